/**
 * R5, worker side (RELIABILITY.md, issue 11 defect 5): PostgreSQL stopped
 * for 60 s under a steady stream of tasks whose handlers write to it.
 *
 * The test starts its OWN PostgreSQL (initdb in a temp dir, a free loopback
 * port; test/helpers/pg-server.ts) and a real node, `starweather node
 * --roles worker`, on NATS 127.0.0.1:4222 and that database, with the
 * default work settings (retry base 1 s doubling, MaxDeliver 5: before this
 * fix a 36 s restart dead-lettered 28 tasks). A plugin handler
 * (test/fixtures/db-write-handler.ts) inserts one row per task id. The test
 * enqueues 4 tasks a second throughout, stops PostgreSQL with
 * `pg_ctl stop -m fast` (sessions terminated: 57P01, then ECONNREFUSED) for
 * 60 s, starts it again, and then requires: every accepted task has exactly
 * one row, 0 dead letters, nothing left in the queue, the breaker opened on
 * the database and closed again. It prints tasks, the longest breaker delay,
 * dead letters, deliveries and the time to drain after recovery.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Transport } from '../../protocol/transport.js';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, spawnNode, waitFor, type Spawned } from '../helpers/processes.js';
import { startPgServer, type PgServer } from '../helpers/pg-server.js';
import { NATS_URL, deleteNamespace } from '../integration/nats-fixtures.js';
import { freshNamespace, sleep, until } from '../helpers/cluster-fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', '..', 'supervisor', 'cli.js');
const HANDLER = join(HERE, '..', 'fixtures', 'db-write-handler.js');
const OUTAGE_MS = Number(process.env.SW_R5_OUTAGE_MS ?? 60_000);
const RATE_PER_S = 4;
const TABLE = 'r5_rows';

interface Health {
  status: string;
  hosts: Array<{ id: string; role: string; pid: number; state: string; restarts: number }>;
}

function gauge(text: string, name: string, labels: RegExp = /.*/): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name && labels.test(m[2] ?? '')) out.push(Number(m[3]));
  }
  return out;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

let pgs: PgServer | null = null;
let node: Spawned | null = null;
let bus: Transport | null = null;
const ns = freshNamespace();
const dir = mkdtempSync(join(tmpdir(), 'sw-r5-'));
const pids = new Set<number>();

after(async () => {
  if (node && node.proc.exitCode === null && node.proc.signalCode === null) {
    node.proc.kill('SIGTERM');
    await Promise.race([node.exited, sleep(15_000)]);
    if (node.proc.exitCode === null) node.proc.kill('SIGKILL');
  }
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await bus?.close().catch(() => undefined);
  await deleteNamespace(NATS_URL, ns);
  await pgs?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test(`R5 (worker side): PostgreSQL stopped for ${OUTAGE_MS / 1000} s under a steady stream of tasks: every accepted task done exactly once, 0 dead letters`, { timeout: OUTAGE_MS + 240_000 }, async () => {
  pgs = await startPgServer();
  const dbUrl = pgs.url('r5');
  {
    const admin = new pg.Client({ connectionString: pgs.url() });
    await admin.connect();
    await admin.query('CREATE DATABASE r5');
    await admin.end();
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    await c.query(`CREATE TABLE ${TABLE} (task_id text PRIMARY KEY, n integer NOT NULL, delivery integer NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
    await c.end();
  }
  const taskLog = join(dir, 'tasks.log');
  const port = await freePort();
  node = spawnNode([CLI, 'node', '--roles', 'worker'], {
    NATS_URL,
    DATABASE_URL: dbUrl,
    REDIS_URL: undefined,
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_NAMESPACE: ns.namespace,
    STARWEATHER_NODE_PORT: String(port),
    STARWEATHER_DATA_DIR: dir,
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_EXTRA_HANDLERS: HANDLER,
    FIXTURE_TASK_LOG: taskLog,
    FIXTURE_DB_TABLE: TABLE,
  });
  const health = async (): Promise<Health | null> => {
    try {
      return (await (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) })).json()) as Health;
    } catch {
      return null;
    }
  };
  const metricsText = async (): Promise<string> => {
    try {
      return await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    } catch {
      return '';
    }
  };
  let h: Health | null = null;
  assert.ok(await waitFor(async () => (h = await health())?.status === 'ok' || node!.proc.exitCode !== null, 60_000, 200), `node did not come up: ${node.stderr().slice(-3000)}`);
  for (const x of h!.hosts) pids.add(x.pid);
  const worker0 = h!.hosts.find((x) => x.role === 'worker');
  assert.ok(worker0, JSON.stringify(h));

  bus = await connectNats({ servers: NATS_URL, names: ns, name: `r5-${ns.namespace}` });
  const accepted: string[] = [];
  const acceptedAt = new Map<string, number>();
  let refused = 0;
  let producing = true;
  let seq = 0;
  const producer = (async () => {
    while (producing) {
      const id = `r5-${seq}`;
      const n = seq++;
      try {
        await enqueueTask(bus!, { queue: 'satellite', id, kind: 'test.db-write', payload: { n } });
        accepted.push(id);
        acceptedAt.set(id, Date.now());
      } catch {
        refused++;
      }
      await sleep(1000 / RATE_PER_S);
    }
  })();
  const rows = async (): Promise<number> => {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    try {
      return Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0]!.n);
    } finally {
      await c.end();
    }
  };

  await until('tasks flowing before the outage', 30_000, async () => (await rows()) >= 20, 250);
  const stoppedAt = Date.now();
  await pgs.stop('fast');
  // Watch the node through the outage: the breaker and its delay.
  let maxDelayS = 0;
  let breakerOpenSeen = false;
  let maxParked = 0;
  while (Date.now() - stoppedAt < OUTAGE_MS) {
    const m = await metricsText();
    maxDelayS = Math.max(maxDelayS, ...gauge(m, 'sw_worker_breaker_delay_seconds'), 0);
    if (gauge(m, 'sw_worker_breaker_state', /dependency="database"/).some((v) => v >= 1)) breakerOpenSeen = true;
    maxParked = Math.max(maxParked, sum(gauge(m, 'sw_worker_tasks_parked')));
    await sleep(1000);
  }
  const mDown = await metricsText();
  const deadDuring = await bus.deadLetterCount();
  await pgs.start();
  const recoveredAt = Date.now();
  // A few more seconds of tasks after the recovery, then stop producing.
  await sleep(5000);
  producing = false;
  await producer;

  const want = new Set(accepted);
  try {
    await until(`all ${want.size} accepted tasks written`, 120_000, async () => (await rows()) >= want.size, 250);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${await rows()} rows, ${await bus.deadLetterCount()} dead letters`);
  }
  const doneAt = Date.now();
  await until('the queue drained', 30_000, async () => (await bus!.queueStats('satellite')).depth === 0, 250);

  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  const stored = (await c.query<{ task_id: string; delivery: number }>(`SELECT task_id, delivery FROM ${TABLE}`)).rows;
  await c.end();
  const deadLetters = await bus.deadLetterCount();
  const mEnd = await metricsText();
  const hEnd = await health();
  const log = existsSync(taskLog) ? readFileSync(taskLog, 'utf8').split('\n').filter(Boolean) : [];
  const fails = log.filter((l) => l.startsWith('fail '));
  const doneDeliveries = log.filter((l) => l.startsWith('done ')).map((l) => Number(l.split(' ')[3]));
  const maxDelivery = Math.max(0, ...doneDeliveries);
  const transientFailures = sum(gauge(mEnd, 'sw_worker_transient_failures_total', /dependency="database"/));
  const failClasses = new Map<string, number>();
  for (const f of fails) {
    const k = f.split(' ')[4] ?? '?';
    failClasses.set(k, (failClasses.get(k) ?? 0) + 1);
  }
  const acceptedDuring = accepted.filter((id) => acceptedAt.get(id)! >= stoppedAt && acceptedAt.get(id)! < recoveredAt).length;
  console.log(
    `R5 worker side: ${accepted.length} tasks accepted (${refused} refused by the bus), PostgreSQL down ${Math.round((recoveredAt - stoppedAt) / 1000)} s; ` +
      `breaker opened on database: ${breakerOpenSeen}, longest breaker delay ${maxDelayS.toFixed(1)} s, up to ${maxParked} tasks parked; ` +
      `${fails.length} failed attempts (${[...failClasses].map(([k, v]) => `${k}×${v}`).join(', ')}), transient failures counted ${transientFailures}; ` +
      `dead letters ${deadLetters} (${deadDuring} during the outage); max delivery of a completed task ${maxDelivery}; ` +
      `${acceptedDuring} accepted during the outage; all done ${((doneAt - recoveredAt) / 1000).toFixed(1)} s after PostgreSQL was back; rows ${stored.length}`,
  );
  assert.equal(deadLetters, 0, 'no task dead-lettered because the database was down');
  assert.equal(stored.length, want.size, 'one row per accepted task');
  assert.deepEqual(new Set(stored.map((r) => r.task_id)), want, 'exactly the accepted tasks, each once');
  assert.ok(breakerOpenSeen, `the breaker opened on the database during the outage:\n${mDown.split('\n').filter((l) => l.startsWith('sw_worker')).join('\n')}`);
  assert.ok(transientFailures >= 1);
  assert.ok(fails.length >= 1 && [...failClasses.keys()].every((k) => k.startsWith('transient:database')), `every failure during the outage is transient on the database: ${[...failClasses.keys()].join(', ')}`);
  assert.equal(sum(gauge(mEnd, 'sw_worker_breaker_state')), 0, 'every breaker closed again');
  assert.equal(sum(gauge(mEnd, 'sw_worker_tasks_parked')), 0);
  const workerEnd = hEnd?.hosts.find((x) => x.role === 'worker');
  if (workerEnd && workerEnd.pid === worker0!.pid && workerEnd.restarts === worker0!.restarts) {
    // The same process held every task through the outage: none spent a delivery on it.
    assert.equal(maxDelivery, 1, 'every task completed on its first delivery');
  } else {
    assert.ok(maxDelivery < 5, `the worker host restarted (${JSON.stringify(hEnd)}); deliveries stay under MaxDeliver (max ${maxDelivery})`);
  }
});
