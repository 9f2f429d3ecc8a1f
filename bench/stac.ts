/**
 * bench:stac — POST throughput of STAC item registration. A gateway process
 * (forked: the load generator must not share its event loop) serves the STAC
 * API with schema validation, the SSRF check and a durable enqueue behind
 * every 202; autocannon on loopback POSTs distinct valid items for
 * BENCH_SECONDS (default 20). Afterwards the gateway counts task rows and
 * queued messages: every 202 must have exactly one of each.
 *
 *   npm run bench:stac                       # embedded bus + PGlite
 *   BENCH_NATS=1 npm run bench:stac          # NATS 127.0.0.1:4222 + PostgreSQL 127.0.0.1:5432 (fresh namespace/schema)
 *   BENCH_CONNECTIONS (default 32), BENCH_SECONDS (default 20), BENCH_PROF=1 (CPU profile of the gateway in ./prof)
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const KEY = 'bench-key-0123456789abcdef';

function item(i: number, run: string): string {
  const lon = -170 + (i % 340);
  const lat = -80 + (Math.floor(i / 340) % 160);
  const dt = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z');
  const id = `bench-${run}-${i}`;
  return JSON.stringify({
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    collection: 'imagery',
    geometry: { type: 'Polygon', coordinates: [[[lon, lat], [lon + 1, lat], [lon + 1, lat + 1], [lon, lat + 1], [lon, lat]]] },
    bbox: [lon, lat, lon + 1, lat + 1],
    properties: { datetime: dt, platform: 'GOES-19', instruments: ['ABI'] },
    links: [{ rel: 'collection', href: 'http://127.0.0.1/collections/imagery', type: 'application/json' }],
    assets: { data: { href: `https://noaa-goes19.s3.amazonaws.com/ABI-L1b-RadF/2026/001/00/${id}.nc`, type: 'application/netcdf', roles: ['data'] } },
  });
}

// ---- the gateway process -------------------------------------------------------

async function serve(): Promise<void> {
  const Fastify = (await import('fastify')).default;
  const { pino } = await import('pino');
  const { apiKeyAuth, requireApiKey } = await import('../actors/gateway/auth.js');
  const { useProblemDetails } = await import('../actors/gateway/errors.js');
  const { checkAssetHref, DEFAULT_ASSET_HOSTS } = await import('../actors/gateway/ssrf.js');
  const { stacPlugin } = await import('../actors/gateway/stac/index.js');
  const { RegistrationBatcher } = await import('../actors/gateway/stac/batcher.js');
  const { tasksPlugin } = await import('../actors/gateway/tasks.js');
  const { migrate } = await import('../actors/storage/migrate.js');
  const { MemoryCache } = await import('../actors/storage/memory-cache.js');
  const { openPg } = await import('../actors/storage/pg.js');
  const { openPglite } = await import('../actors/storage/pglite.js');
  const { EmbeddedTransport } = await import('../actors/runtime/transport/embedded.js');
  const { connectNats } = await import('../actors/runtime/transport/nats.js');
  const { names } = await import('../protocol/names.js');
  const { DEFAULT_TOPOLOGY } = await import('../protocol/topology.js');
  const useNats = process.env.BENCH_NATS === '1';
  const ns = names(`b${randomBytes(5).toString('hex')}`);
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-stac-'));
  const db = useNats ? await openPg({ url: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test', schema, max: 16 }) : await openPglite({ dataDir: join(dir, 'pglite') });
  await migrate(db);
  const transport = useNats ? await connectNats({ servers: process.env.NATS_URL || 'nats://127.0.0.1:4222', names: ns, topology: DEFAULT_TOPOLOGY }) : new EmbeddedTransport({ names: ns, topology: DEFAULT_TOPOLOGY });
  await transport.provision();
  const cache = new MemoryCache();
  const storage = { db, cache } as never;
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  useProblemDetails(app, pino({ level: 'silent' }));
  await app.register(tasksPlugin, { storage: async () => storage });
  const batcher = new RegistrationBatcher(async () => db);
  await app.register(stacPlugin, {
    batcher,
    storage: async () => storage,
    transport,
    authorize: requireApiKey(apiKeyAuth(KEY)),
    checkHref: (h: string) => checkAssetHref(h, { schemes: ['https'], hosts: [...DEFAULT_ASSET_HOSTS], fileRoot: '' }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  process.send!({ port: typeof addr === 'object' && addr ? addr.port : 0, backend: useNats ? 'NATS + PostgreSQL' : 'embedded bus + PGlite' });
  process.on('message', async (m: { count?: boolean }) => {
    if (!m.count) return;
    await app.close();
    const depth = (await transport.queueStats('weather')).depth;
    // The consumer's num_pending is what queueStats reports; the stream's own
    // message count is the ground truth for "how many tasks were stored".
    let streamMessages: number | null = null;
    if (useNats) {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: process.env.NATS_URL || 'nats://127.0.0.1:4222' });
      streamMessages = (await (await jetstreamManager(nc)).streams.info(ns.streams.work('weather'))).state.messages;
      await nc.close();
    }
    // Rows after messages: a request still finishing after app.close() adds
    // its row before its message (enqueue follows the commit), so counting
    // rows last can only over-count rows, never invent a duplicate message.
    const rows = await db.query<{ n: string; d: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM tasks`);
    process.send!({ tasks: Number(rows.rows[0]!.n), distinct: Number(rows.rows[0]!.d), queued: streamMessages ?? depth, batches: batcher.stats() });
    await transport.close();
    if (useNats) {
      await db.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined);
    }
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

// ---- the load generator ----------------------------------------------------------

async function main(): Promise<void> {
  // BENCH_PROF=1: a CPU profile of the gateway process in ./prof (for finding where the time goes).
  const execArgv = process.env.BENCH_PROF === '1' ? ['--cpu-prof', '--cpu-prof-dir=prof'] : [];
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  const ready = await new Promise<{ port: number; backend: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number; backend: string }));
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}`)));
  });
  const run = randomBytes(3).toString('hex');
  let n = 0;
  console.log(`bench:stac: ${ready.backend}, ${CONNECTIONS} connections, ${SECONDS} s of POST /collections/imagery/items (distinct items)`);
  const result = await autocannon({
    url: `http://127.0.0.1:${ready.port}`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        path: '/collections/imagery/items',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        setupRequest: ((req: Record<string, unknown>) => ({ ...req, body: item(n++, run) })) as never,
      },
    ],
  });
  const ok = result['2xx'];
  const counted = await new Promise<{ tasks: number; distinct: number; queued: number; batches: unknown }>((resolve) => {
    child.once('message', (m) => resolve(m as { tasks: number; distinct: number; queued: number; batches: unknown }));
    child.send({ count: true });
  });
  await new Promise((r) => child.once('exit', r));
  console.log(
    JSON.stringify(
      {
        backend: ready.backend,
        requests: result.requests.total,
        accepted202: ok,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        reqPerSec: Math.round(result.requests.average),
        latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
        groupCommit: counted.batches,
        afterwards: { taskRows: counted.tasks, distinctTaskIds: counted.distinct, messagesOnQueue: counted.queued },
        // Requests cut off when the run ends may be processed without their 202 being counted: more rows than 202s is not a loss.
        lost: Math.max(0, ok - Math.min(counted.tasks, counted.queued)),
        duplicated: counted.tasks - counted.distinct + Math.max(0, counted.queued - counted.tasks),
      },
      null,
      2,
    ),
  );
}

if (process.argv[2] === 'serve') await serve();
else await main();
