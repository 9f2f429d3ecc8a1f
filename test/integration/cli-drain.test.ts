/**
 * SIGTERM drain of a real node (`starweather node --roles worker` on NATS)
 * with tasks in flight: the node exits 0, a running task that fits in the
 * drain budget completes and is acked, one that does not is aborted and
 * handed back (nak), buffered ones go back at once; a second node started
 * afterwards finishes every one of them. Nothing is lost, nothing is
 * dead-lettered, no process is left. The worker's handler is a plugin loaded
 * through STARWEATHER_EXTRA_HANDLERS (test/fixtures/slow-handler).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/load.js';
import { createTransport } from '../../actors/runtime/transport/index.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, spawnNode, waitFor, type Spawned } from '../helpers/processes.js';
import { NATS_URL, deleteNamespace, freshNames } from './nats-fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', '..', 'supervisor', 'cli.js');
const PLUGIN = join(HERE, '..', 'fixtures', 'slow-handler.js');
const running: Spawned[] = [];
const pids = new Set<number>();
const dir = mkdtempSync(join(tmpdir(), 'sw-drain-'));

after(() => {
  for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface LogLine {
  what: 'start' | 'done' | 'aborted';
  id: string;
  pid: number;
  delivery: number;
}

function taskLog(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, id, pid, delivery] = l.split(' ');
      return { what: what as LogLine['what'], id: id!, pid: Number(pid), delivery: Number(delivery) };
    });
}

async function workerPid(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  const body = (await res.json()) as { hosts: Array<{ role: string; pid: number; state: string }> };
  const w = body.hosts.find((h) => h.role === 'worker' && h.state === 'running');
  if (!w) throw new Error('no running worker host');
  return w.pid;
}

async function startWorkerNode(env: Record<string, string | undefined>, port: number): Promise<{ node: Spawned; pid: number }> {
  const node = spawnNode([CLI, 'node', '--roles', 'worker'], { ...env, STARWEATHER_NODE_PORT: String(port) });
  running.push(node);
  let pid = 0;
  const ok = await waitFor(async () => {
    if (node.proc.exitCode !== null) return true;
    try {
      pid = await workerPid(port);
      return true;
    } catch {
      return false;
    }
  }, 45_000, 200);
  assert.ok(ok && node.proc.exitCode === null && pid > 0, `worker node did not come up: ${node.stderr()}`);
  pids.add(pid);
  return { node, pid };
}

test('SIGTERM drains a worker node with tasks in flight: exit 0, nothing lost', { timeout: 120_000 }, async () => {
  const n = freshNames();
  const logFile = join(dir, 'tasks.log');
  const env: Record<string, string | undefined> = {
    NATS_URL,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_ROLES: undefined,
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_NAMESPACE: n.namespace,
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_HEARTBEAT_MS: '200',
    STARWEATHER_MEMBER_TTL_MS: '2000',
    STARWEATHER_HANG_TIMEOUT_MS: '1500',
    STARWEATHER_BACKOFF_BASE_MS: '100',
    STARWEATHER_BACKOFF_MAX_MS: '1000',
    STARWEATHER_STATUS_INTERVAL_MS: '500',
    // Drain budget is 70 % of this: 2.8 s, room for a 1.5 s task, not a 60 s one.
    STARWEATHER_SHUTDOWN_TIMEOUT_MS: '4000',
    STARWEATHER_ACK_WAIT_MS: '5000',
    STARWEATHER_WORK_CONCURRENCY: '3',
    STARWEATHER_WORK_PREFETCH: '4',
    STARWEATHER_EXTRA_HANDLERS: PLUGIN,
    FIXTURE_TASK_LOG: logFile,
  };
  const cfg = loadConfig({ env: { ...env, STARWEATHER_NODE_ID: 'test-producer' } as NodeJS.ProcessEnv });
  const producer = await createTransport(cfg, { name: 'drain test producer' });
  try {
    // Delivery follows stream order: the first three run at once.
    const tasks = [
      { id: 'long-1', ms: 60_000 },
      { id: 'long-2', ms: 60_000 },
      { id: 'short-1', ms: 1500 },
      ...Array.from({ length: 6 }, (_, i) => ({ id: `more-${i + 1}`, ms: 1500 })),
    ];
    for (const t of tasks) await enqueueTask(producer, { queue: 'satellite', id: t.id, kind: 'test.slow', payload: { ms: t.ms } });

    const first = await startWorkerNode(env, await freePort());
    assert.ok(await waitFor(() => taskLog(logFile).filter((l) => l.what === 'start' && l.pid === first.pid).length >= 3, 20_000), `tasks never started: ${first.node.stderr()}`);
    const inFlight = taskLog(logFile)
      .filter((l) => l.what === 'start')
      .map((l) => l.id)
      .sort();
    assert.deepEqual(inFlight, ['long-1', 'long-2', 'short-1']);

    first.node.proc.kill('SIGTERM');
    const exit = await first.node.exited;
    assert.equal(exit.signal, null);
    assert.equal(exit.code, 0, first.node.stderr());
    assert.ok(await waitFor(() => !isAlive(first.pid), 5000), 'worker host outlived its node');

    const afterFirst = taskLog(logFile);
    // The short in-flight task finished inside the drain budget; the long ones were handed back.
    assert.ok(afterFirst.some((l) => l.what === 'done' && l.id === 'short-1' && l.pid === first.pid), JSON.stringify(afterFirst));
    for (const id of ['long-1', 'long-2']) {
      assert.ok(afterFirst.some((l) => l.what === 'aborted' && l.id === id && l.pid === first.pid), `${id} was not aborted by the drain`);
      assert.ok(!afterFirst.some((l) => l.what === 'done' && l.id === id), `${id} finished on the draining host`);
    }

    const second = await startWorkerNode(env, await freePort());
    const allDone = await waitFor(async () => {
      const done = new Set(taskLog(logFile).filter((l) => l.what === 'done').map((l) => l.id));
      if (!tasks.every((t) => done.has(t.id))) return false;
      const stats = await producer.queueStats('satellite');
      return stats.depth === 0 && stats.inFlight === 0;
    }, 45_000, 200);
    const final = taskLog(logFile);
    assert.ok(allDone, `not every task was acked: ${JSON.stringify(final)}`);
    for (const id of ['long-1', 'long-2']) assert.ok(final.some((l) => l.what === 'done' && l.id === id && l.pid === second.pid), `${id} not finished by the second worker`);
    assert.equal(await producer.deadLetterCount(), 0);

    second.node.proc.kill('SIGTERM');
    assert.equal((await second.node.exited).code, 0, second.node.stderr());
    assert.ok(await waitFor(() => !isAlive(second.pid), 5000));
  } finally {
    await producer.close().catch(() => undefined);
    await deleteNamespace(NATS_URL, n);
  }
});
