/**
 * Kill -9 against a real node (`starweather node` on NATS, forked hosts):
 * a SIGKILLed host is restarted by its supervisor within the backoff bound
 * and shows up healthy again; a SIGKILLed supervisor leaves no host behind
 * (hosts drain and exit when their IPC channel closes); a SIGKILLed
 * tracker host's leases and member record are given back by its supervisor
 * at once, so its shards do not wait for the leases to expire.
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
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { LeaseMessage } from '../../protocol/messages/cluster.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');
const running: Spawned[] = [];
const pids = new Set<number>();
const dir = mkdtempSync(join(tmpdir(), 'sw-kill-'));

after(() => {
  for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A node on the test's NATS with its own namespace, port and data dir, fast heartbeats and restarts; `extra` wins. */
function nodeEnv(namespace: string, port: number, dataDir: string, extra: Record<string, string>): Record<string, string | undefined> {
  return {
    NATS_URL,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_NAMESPACE: namespace,
    STARWEATHER_NODE_PORT: String(port),
    STARWEATHER_DATA_DIR: dataDir,
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_HEARTBEAT_MS: '200',
    STARWEATHER_BACKOFF_BASE_MS: '100',
    STARWEATHER_BACKOFF_MAX_MS: '1000',
    STARWEATHER_SHARD_COUNT: '8',
    ...extra,
  };
}

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
  const node = spawnNode([CLI, 'node', '--roles', 'worker,tracker'], nodeEnv(n.namespace, port, dir, { STARWEATHER_MEMBER_TTL_MS: '2000', STARWEATHER_HANG_TIMEOUT_MS: '1500' }));
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

test('kill -9 of a tracker host: its supervisor gives back its leases and member record at once, so the restarted host owns every shard long before the leases would expire', { timeout: 120_000 }, async () => {
  const n = freshNames();
  const port = await freePort();
  const leaseMs = 20_000;
  // Long on purpose: without the burial the new incarnation would wait this long for the old one's shards.
  const node = spawnNode([CLI, 'node', '--roles', 'tracker'], nodeEnv(n.namespace, port, mkdtempSync(join(dir, 'burial-')), { STARWEATHER_LEASE_MS: String(leaseMs), STARWEATHER_MEMBER_TTL_MS: '15000' }));
  running.push(node);
  const bus = await connectNats({ servers: NATS_URL, names: n });
  try {
    const leases = async () => {
      const out = new Map<string, string>();
      try {
        for (const e of await (await bus.kv('leases')).entries('tracker.')) out.set(e.key, LeaseMessage.decode(e.value).holder);
      } catch {
        // Not provisioned yet (the node does that): nothing held.
      }
      return out;
    };
    let held = new Map<string, string>();
    assert.ok(await waitFor(async () => (held = await leases()).size === 8 && new Set(held.values()).size === 1, 45_000, 200), `${JSON.stringify([...held])} ${node.stderr()}`);
    const dead = [...held.values()][0]!;
    const h = (await health(port))!;
    const host = h.hosts.find((x) => x.role === 'tracker')!;
    pids.add(host.pid);
    assert.ok(dead.includes('tracker'), `lease holder ${dead} is the tracker host`);

    process.kill(host.pid, 'SIGKILL');
    const killedAt = Date.now();
    const moved = await waitFor(async () => {
      held = await leases();
      return held.size === 8 && [...held.values()].every((holder) => holder !== dead);
    }, leaseMs / 2, 100);
    const tookMs = Date.now() - killedAt;
    console.log(`tracker host kill -9: every shard leased by its next incarnation ${tookMs} ms later (lease ${leaseMs} ms)`);
    assert.ok(moved, `shards still held by the dead host ${dead} after ${tookMs} ms: ${JSON.stringify([...held])}`);
    assert.equal(await (await bus.kv('members')).get(`tracker.${dead}`), null, 'the dead host\'s member record is gone');
    node.proc.kill('SIGTERM');
    await node.exited;
  } finally {
    await bus.close();
    await deleteNamespace(NATS_URL, n);
  }
});
