/**
 * The imagery ingest registering into the real STAC transaction endpoint
 * (stacPlugin with requireApiKey and checkAssetHref, embedded bus + PGlite):
 * the generated ABI and AHI scenes pass the gateway's STAC 1.0.0 schema
 * validation and SSRF href check, come back from GET /collections/imagery/
 * items/{id}, each has one task; and when the ingest's memory is lost after
 * a POST (a crash between the 202 and its own record), the re-POST is the
 * idempotent one: 202, same task, no second task.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { apiKeyAuth, requireApiKey } from '../../actors/gateway/auth.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { checkAssetHref, DEFAULT_ASSET_HOSTS } from '../../actors/gateway/ssrf.js';
import { stacPlugin } from '../../actors/gateway/stac/index.js';
import { tasksPlugin } from '../../actors/gateway/tasks.js';
import type { Storage } from '../../actors/storage/index.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { migrate } from '../../actors/storage/migrate.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { ImageryIngest } from '../../actors/ingest/imagery-actor.js';
import { listIngested } from '../../actors/ingest/imagery-registry.js';
import { prefixFor } from '../../actors/ingest/imagery-keys.js';
import { loadConfig } from '../../config/load.js';
import { embeddedBus, quietLogger, until } from '../helpers/cluster-fixtures.js';
import { openTestPglite } from '../helpers/storage-backends.js';
import { startS3Server } from '../helpers/s3-server.js';
import { abiFileName, writeAbiFile } from '../helpers/abi-file.js';
import { himawariFileName, himawariSegmentFile } from '../helpers/himawari-file.js';

const KEY = 'imagery-test-key-0123456789';

describe('imagery ingest → STAC transaction endpoint', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('items validated, stored and queued once; a lost ingest record re-POSTs idempotently', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sw-s3g-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const now = new Date('2026-11-25T17:25:00Z');
    const put = async (bucket: string, key: string, bytes?: Uint8Array): Promise<string> => {
      const p = join(root, bucket, ...key.split('/'));
      await mkdir(join(p, '..'), { recursive: true });
      if (bytes) await writeFile(p, bytes);
      return p;
    };
    const ids: string[] = [];
    for (const [sector, t] of [['F', '2026-11-25T17:00:20.5Z'], ['C', '2026-11-25T17:01:17.1Z']] as const) {
      const start = new Date(t);
      const name = abiFileName({ sector, start });
      await writeAbiFile(await put('noaa-goes19', prefixFor('abi', `ABI-L1b-Rad${sector}`, start) + name), { sector, start });
      ids.push(name.replace(/_c\d{14}\.nc$/, ''));
    }
    const h = new Date('2026-11-25T17:10:00Z');
    for (let s = 1; s <= 10; s++) await put('noaa-himawari9', prefixFor('ahi', 'AHI-L1b-FLDK', h) + himawariFileName({ time: h, segment: s }), himawariSegmentFile({ time: h, segment: s }));
    ids.push('HS_H09_20261125_1710_B13_FLDK_R20');

    const s3 = await startS3Server(root);
    cleanups.push(() => s3.close());
    const endpoint = s3.url.replace('127.0.0.1', 'localhost');
    const hostPort = new URL(endpoint).host;

    const db = await openTestPglite();
    cleanups.push(() => db.dispose());
    await migrate(db.db);
    const bus = await embeddedBus();
    cleanups.push(() => bus.cleanup());
    const transport = await bus.connect();

    // The gateway side: the real STAC plugin, its key check and its href policy (NOAA hosts + this test bucket host).
    const cache = new MemoryCache();
    cleanups.push(() => cache.close());
    const storage = { db: db.db, cache } as unknown as Storage;
    const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
    useProblemDetails(app, pino({ level: 'silent' }));
    await app.register(tasksPlugin, { storage: async () => storage });
    const policy = { schemes: ['https', 'http'], hosts: [...DEFAULT_ASSET_HOSTS, `${hostPort}/noaa-goes19`, `${hostPort}/noaa-himawari9`], fileRoot: '' };
    await app.register(stacPlugin, { storage: async () => storage, transport, authorize: requireApiKey(apiKeyAuth(KEY)), checkHref: (href: string) => checkAssetHref(href, policy) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const addr = app.server.address();
    const gateway = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

    const cfg = loadConfig({
      env: {},
      overrides: {
        namespace: bus.names.namespace,
        'imagery.s3Endpoint': endpoint,
        'imagery.sources': ['goes-east', 'himawari-9'],
        'imagery.intervalMs': 1000,
        'imagery.gatewayUrl': gateway,
        'assets.hosts': [hostPort],
        'assets.privateHosts': [hostPort],
      },
    });
    const make = async (hostId: string): Promise<ImageryIngest> => {
      const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: hostId, leaseMs: 1500, safetyMs: 300, logger: quietLogger(hostId) });
      const ingest = new ImageryIngest({ config: cfg, db: db.db, leases, logger: quietLogger(hostId), hostId, apiKey: async () => KEY, now: () => now });
      ingest.start();
      cleanups.push(() => ingest.stop());
      return ingest;
    };
    const a = await make('gw-a');
    await until('all three registered', 40_000, () => a.stats.registered >= 3 || a.stats.rejected > 0);
    assert.equal(a.stats.rejected, 0, JSON.stringify(a.lastSkips));
    const rows = await listIngested(db.db);
    assert.deepEqual(rows.map((r) => r.itemId).sort(), [...ids].sort());
    for (const r of rows) {
      assert.equal(r.outcome, 'registered');
      assert.equal(r.httpStatus, 202);
      assert.equal(r.taskId, `stac:imagery:${r.itemId}`);
    }
    for (const id of ids) {
      const res = await fetch(`${gateway}/collections/imagery/items/${id}`);
      assert.equal(res.status, 200, id);
      const item = (await res.json()) as Record<string, any>;
      assert.equal(item.id, id);
      assert.ok(Array.isArray(item.bbox) && item.bbox.length === 4);
    }
    const search = (await (await fetch(`${gateway}/search?bbox=-100,20,-90,30&collections=imagery&limit=10`)).json()) as { features: Array<{ id: string }> };
    assert.deepEqual(search.features.map((f) => f.id).sort(), ids.slice(0, 2).sort(), 'GOES-East full disk and CONUS cover the Gulf of Mexico; Himawari does not');
    const task = (await (await fetch(`${gateway}/tasks/stac:imagery:${ids[0]}`)).json()) as { state: string };
    assert.equal(task.state, 'queued');

    // The ingest loses its memory of one scene after the gateway took it: the re-POST is idempotent.
    await a.stop();
    await db.db.query('DELETE FROM imagery_ingested WHERE item_id = $1', [ids[0]]);
    const tasksBefore = await db.db.query<{ n: string }>('SELECT count(*)::text AS n FROM tasks');
    const b = await make('gw-b');
    await until('re-registered', 30_000, () => b.stats.registered >= 1 || b.stats.rejected > 0);
    assert.equal(b.stats.rejected, 0, JSON.stringify(b.lastSkips));
    const again = (await listIngested(db.db)).find((r) => r.itemId === ids[0])!;
    assert.equal(again.outcome, 'registered');
    assert.equal(again.taskId, `stac:imagery:${ids[0]}`);
    const tasksAfter = await db.db.query<{ n: string }>('SELECT count(*)::text AS n FROM tasks');
    assert.equal(tasksAfter.rows[0]!.n, tasksBefore.rows[0]!.n, 'no second task');
    const polls = b.stats.polls;
    await until('another poll', 20_000, () => b.stats.polls > polls);
    assert.equal(b.stats.registered, 1, 'the others were not posted again');
  });
});
