/**
 * Kill -9 against a real node (`starweather node` on NATS, forked hosts):
 * a SIGKILLed host is restarted by its supervisor within the backoff bound
 * and shows up healthy again; a SIGKILLed supervisor leaves no host behind
 * (hosts drain and exit when their IPC channel closes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, spawnNode, waitFor, type Spawned } from '../helpers/processes.js';
import { NATS_URL, deleteNamespace, freshNames } from '../integration/nats-fixtures.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');
const running: Spawned[] = [];
const pids = new Set<number>();
const dir = mkdtempSync(join(tmpdir(), 'sw-kill-'));

after(() => {
  for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Health {
  status: string;
  hosts: Array<{ id: string; role: string; pid: number; state: string; restarts: number }>;
}

async function health(port: number): Promise<Health | null> {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Health;
  } catch {
    return null;
  }
}

test('kill -9 of a host: restarted and healthy again; kill -9 of the node: no host left behind', { timeout: 120_000 }, async () => {
  const n = freshNames();
  const port = await freePort();
  const node = spawnNode([CLI, 'node', '--roles', 'worker,tracker'], {
    NATS_URL,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_NAMESPACE: n.namespace,
    STARWEATHER_NODE_PORT: String(port),
    STARWEATHER_DATA_DIR: dir,
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_HEARTBEAT_MS: '200',
    STARWEATHER_MEMBER_TTL_MS: '2000',
    STARWEATHER_HANG_TIMEOUT_MS: '1500',
    STARWEATHER_BACKOFF_BASE_MS: '100',
    STARWEATHER_BACKOFF_MAX_MS: '1000',
    STARWEATHER_SHARD_COUNT: '8',
  });
  running.push(node);
  try {
    let h: Health | null = null;
    assert.ok(await waitFor(async () => (h = await health(port))?.status === "ok" || node.proc.exitCode !== null, 45_000, 200), `${JSON.stringify(h)} ${node.stderr()}`);
    assert.equal(node.proc.exitCode, null, node.stderr());
    const before = h!.hosts.find((x) => x.role === 'worker')!;
    pids.add(before.pid);
    for (const x of h!.hosts) pids.add(x.pid);

    process.kill(before.pid, 'SIGKILL');
    const killedAt = Date.now();
    let again: Health | null = null;
    const back = await waitFor(async () => {
      again = await health(port);
      const w = again?.hosts.find((x) => x.role === 'worker');
      return again?.status === 'ok' && w !== undefined && w.pid !== before.pid && w.restarts === 1;
    }, 20_000, 100);
    // Backoff bound for a first restart is 100 ms; host startup (connect, provision, join) is the rest.
    console.log(`host back and healthy ${Date.now() - killedAt} ms after kill -9`);
    assert.ok(back, JSON.stringify(again));
    const hostPids = again!.hosts.map((x) => x.pid);
    for (const p of hostPids) pids.add(p);
    assert.equal(isAlive(before.pid), false);

    node.proc.kill('SIGKILL');
    await node.exited;
    const gone = await waitFor(() => hostPids.every((p) => !isAlive(p)), 15_000);
    assert.ok(gone, `hosts outlived their node: ${hostPids.filter(isAlive).join(', ')}`);
  } finally {
    await deleteNamespace(NATS_URL, n);
  }
});
