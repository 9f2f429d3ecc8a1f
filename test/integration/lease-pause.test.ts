/**
 * Leases that survive pauses, on both buses. Two shard hosts share this
 * process's event loop (as every role does in the embedded default); the
 * loop is blocked synchronously for 3× the lease. Afterwards no shard has
 * moved: no release, no acquisition, the leases were reclaimed by
 * compare-and-set. A lease that another holder took over while we were
 * stalled is lost, not reclaimed (the compare-and-set proves the difference).
 * A negative control with the pause tracker disabled shows the old
 * behaviour: every shard is released when its deadline is found passed.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Transport } from '../../protocol/transport.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { Membership } from '../../actors/runtime/membership.js';
import { ShardManager, type ReleaseReason } from '../../actors/runtime/sharding.js';
import { PauseTracker } from '../../actors/runtime/pause.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BUSES, NATS_URL, quietLogger, until, type ClusterBus } from '../helpers/cluster-fixtures.js';

const INTRUDER = fileURLToPath(new URL('../fixtures/lease-intruder.js', import.meta.url));

const LEASE_MS = 1200;
const HEARTBEAT_MS = 150;
const TTL_MS = 600;
const SHARDS = 16;

interface Host {
  id: string;
  membership: Membership;
  shards: ShardManager;
  acquired: number[];
  releases: Array<{ shard: number; reason: ReleaseReason }>;
}

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the whole loop stands still, as under a long synchronous stretch
  }
}

// The embedded bus only: the same lease code on NATS is held to a real stall by
// test/chaos/busy-node.test.ts (a cluster node, no shard moves), and the KV
// semantics it relies on by the transport contract suite on both buses.
for (const { kind, make } of BUSES.filter((b) => b.kind === 'embedded')) {
  describe(`leases across a stall of the loop, ${kind} bus`, { timeout: 60_000 }, () => {
    const buses: ClusterBus[] = [];
    const running: Host[] = [];
    after(async () => {
      await Promise.all(running.map(async (h) => {
        await h.shards.stop();
        await h.membership.leave();
      }));
      await Promise.all(buses.map((b) => b.cleanup()));
    });

    async function startHost(t: Transport, id: string, pauses?: PauseTracker): Promise<Host> {
      const logger = quietLogger(id);
      const membership = new Membership({ bucket: await t.kv('members'), role: 'tracker', hostId: id, nodeId: 'n', heartbeatMs: HEARTBEAT_MS, memberTtlMs: TTL_MS, logger, ...(pauses ? { pauses } : {}) });
      const leaseBucket = await t.kv('leases');
      const leases = new LeaseManager({ bucket: leaseBucket, holder: id, leaseMs: LEASE_MS, logger });
      const h: Host = { id, membership, shards: null as unknown as ShardManager, acquired: [], releases: [] };
      h.shards = new ShardManager({
        kind: 'tracker',
        shardCount: SHARDS,
        membership,
        leases,
        leaseBucket,
        logger,
        ...(pauses ? { pauses } : {}),
        onAcquire: (shard) => void h.acquired.push(shard),
        onRelease: (shard, reason) => void h.releases.push({ shard, reason }),
      });
      await membership.join();
      await h.shards.start();
      running.push(h);
      return h;
    }

    const settled = (hosts: Host[]): boolean =>
      hosts.every((h) => h.shards.members().length === hosts.length) && hosts.reduce((n, h) => n + h.shards.ownedShards().length, 0) === SHARDS;

    test('a stall of 3× the lease moves no shard: every lease is reclaimed, nothing released or acquired', async () => {
      const bus = await make();
      buses.push(bus);
      const a = await startHost(await bus.connect(), 'pause-a');
      const b = await startHost(await bus.connect(), 'pause-b');
      await until('settled', 10_000, () => settled([a, b]));
      await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
      // (A host that started first may have handed shards to the second while settling.)
      const before = { a: a.shards.ownedShards(), b: b.shards.ownedShards(), acquiredA: a.acquired.length, acquiredB: b.acquired.length, releases: a.releases.length + b.releases.length };
      blockFor(3 * LEASE_MS);
      // Right after the stall no lease is valid; none may be acted on until reclaimed.
      assert.deepEqual(a.shards.ownedShards(), [], 'nothing owned while the reclaim is pending');
      await until('leases reclaimed', 10_000, () => a.shards.ownedShards().length === before.a.length && b.shards.ownedShards().length === before.b.length);
      // Let several renew and membership rounds pass.
      await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
      console.log(`${kind}: reclaimed a=${a.shards.stats.reclaimed} b=${b.shards.stats.reclaimed}, releases after the stall ${a.releases.length + b.releases.length - before.releases}`);
      assert.deepEqual(a.shards.ownedShards(), before.a);
      assert.deepEqual(b.shards.ownedShards(), before.b);
      assert.equal(a.releases.length + b.releases.length, before.releases, 'no shard released');
      assert.equal(a.acquired.length, before.acquiredA, 'no shard acquired again');
      assert.equal(b.acquired.length, before.acquiredB);
      assert.equal(a.shards.stats.reclaimed + b.shards.stats.reclaimed, SHARDS, 'every lease reclaimed once');
    });

    test('a lease another holder took while we were stalled is lost, the others are reclaimed', async () => {
      const bus = await make();
      buses.push(bus);
      const t = await bus.connect();
      const a = await startHost(t, 'solo-a');
      await until('a owns every shard', 10_000, () => a.shards.ownedShards().length === SHARDS);
      const key = a.shards.leaseKey(3);
      let took: { ok: boolean };
      if (kind === 'nats') {
        // A peer in another process takes the lease while our loop stands still.
        const child = spawn(process.execPath, [INTRUDER, NATS_URL, bus.names.namespace, key, String(2 * LEASE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        await until('intruder ready', 10_000, () => out.includes('ready'));
        blockFor(3 * LEASE_MS);
        await until('intruder done', 10_000, () => out.split('\n').filter(Boolean).length >= 2);
        took = JSON.parse(out.split('\n').filter(Boolean)[1]!) as { ok: boolean };
      } else {
        // One in-process bus: the peer's compare-and-set is issued right after the
        // stall, before any of a's timers can run (the embedded KV answers in order).
        const intruder = new LeaseManager({ bucket: await t.kv('leases'), holder: 'intruder', leaseMs: 60_000, logger: quietLogger('intruder') });
        blockFor(3 * LEASE_MS);
        took = await intruder.tryAcquire(key);
      }
      assert.equal(took.ok, true, `the intruder took shard 3 over (${JSON.stringify(took)})`);
      await until('a settled after the stall', 10_000, () => a.releases.length === 1 && a.shards.ownedShards().length === SHARDS - 1);
      assert.deepEqual(a.releases, [{ shard: 3, reason: 'lost' }]);
      assert.equal(a.shards.owns(3), false);
      assert.equal(a.shards.stats.reclaimed, SHARDS - 1);
    });

    test('negative control: without pause tracking, the same stall releases every shard', async () => {
      const bus = await make();
      buses.push(bus);
      // A tracker that never records a pause: deadlines found passed count as awake-time failures.
      const blind = new PauseTracker({ slackMs: 1e9 });
      const a = await startHost(await bus.connect(), 'blind-a', blind);
      await until('a owns every shard', 10_000, () => a.shards.ownedShards().length === SHARDS);
      blockFor(3 * LEASE_MS);
      await until('released', 10_000, () => a.releases.length >= SHARDS);
      assert.ok(a.releases.every((r) => r.reason === 'expired'), JSON.stringify(a.releases.slice(0, 3)));
      assert.equal(a.shards.stats.reclaimed, 0);
    });
  });
}
