/**
 * Two tracker-host processes over real NATS (fresh namespace) and real
 * PostgreSQL (fresh schema), 2,000 objects: every object is in the frames of
 * exactly one host each second; after SIGKILL of one host, on a machine kept
 * busy by one spinning process per core (R1: takeover must not depend on a
 * quiet machine), coverage never falls below the survivor's own share and
 * every object is propagated again within 10 s; a host joining never leaves
 * more than 2 ticks in a row incomplete; no object is ever published twice
 * for the same tick (two hosts never propagate one object at once).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/load.js';
import type { Transport } from '../../protocol/transport.js';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { openStorage, type Storage } from '../../actors/storage/index.js';
import { rendezvousOwner } from '../../actors/runtime/sharding.js';
import { NATS_URL, deleteNamespace } from '../integration/nats-fixtures.js';
import { freshNamespace, sleep, until } from '../helpers/cluster-fixtures.js';
import { PG_URL, dropSchema, randomSchema } from '../helpers/storage-backends.js';
import { FrameLedger, seedFreshObjects } from '../helpers/tracker-seed.js';

const OBJECTS = 2000;
const CHILD = fileURLToPath(new URL('../helpers/role-host-child.js', import.meta.url));

interface Child {
  id: string;
  proc: ChildProcess;
  shards: number;
  exited: Promise<void>;
}

interface Suite {
  label: string;
  /** Cluster timing of the hosts. */
  timing: Record<string, string>;
  /** Every object published again within this long after the SIGKILL. */
  takeoverBoundMs: number;
  /** Then also start a third host and check the join. */
  join: boolean;
}

failoverSuite({
  label: 'short leases (3 s lease, 1.5 s member TTL)',
  timing: { STARWEATHER_LEASE_MS: '3000', STARWEATHER_HEARTBEAT_MS: '300', STARWEATHER_MEMBER_TTL_MS: '1500' },
  takeoverBoundMs: 10_000,
  join: true,
});
// Default timing (6 s lease, 5 s member TTL): a host that dies with nobody
// to bury it (no supervisor, as in a whole-node crash) is found by its
// peer's presence probes (1.5 s), not by expiry. R9 allows 5 s; the bound is
// 4 s because expiry alone cannot meet it (the member record lives 4-5 s
// after the kill; measured without probes: 5.0 s), so the test fails
// without the probes (measured with them: 1.9 s with a 1.5 s confirm time, 2.9 s with 2 s).
failoverSuite({
  label: 'default timing: the dead host is buried by presence probes',
  timing: {},
  takeoverBoundMs: 4000,
  join: false,
});

function failoverSuite(suite: Suite): void {
  describe(`tracker failover across two host processes: ${suite.label}`, { timeout: 180_000 }, () => {
    const ns = freshNamespace();
    const schema = randomSchema();
    const env = {
      NATS_URL,
      DATABASE_URL: PG_URL,
      REDIS_URL: '',
      STARWEATHER_NAMESPACE: ns.namespace,
      STARWEATHER_SHARD_COUNT: '64',
      ...suite.timing,
      STARWEATHER_LOG_LEVEL: 'warn',
      SW_HOST_ROLE: 'tracker',
      SW_HOST_SCHEMA: schema,
    };
    let storage: Storage;
    let bus: Transport;
    const children: Child[] = [];
    /** tick → id → how many times published, and which shard each object was published under. */
    const ledger = new FrameLedger();
    const { seen, shardOfId } = ledger;
    let expected: Set<number>;

    function spawnHost(id: string): Child {
      const proc = fork(CHILD, [], { env: { ...process.env, ...env, SW_HOST_ID: id }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const c: Child = { id, proc, shards: 0, exited: new Promise((r) => proc.once('exit', () => r())) };
      proc.on('message', (m: unknown) => {
        const msg = m as { type?: string; shards?: Record<string, number> };
        if (msg.type === 'info' && msg.shards) c.shards = msg.shards.tracker ?? 0;
      });
      children.push(c);
      return c;
    }

    before(async () => {
      const cfg = loadConfig({ env: {}, overrides: { namespace: ns.namespace, 'database.url': PG_URL } });
      storage = await openStorage(cfg, { schema });
      // Fresh epochs (an hour old) so no object decays or goes stale during the test.
      expected = await seedFreshObjects(storage.db, OBJECTS);
      bus = await connectNats({ servers: NATS_URL, names: ns });
      bus.subscribe(ns.subjects.trackerStateAll, (msg) => ledger.add(msg.data));
    });

    after(async () => {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      await bus?.close().catch(() => undefined);
      await storage?.close();
      await dropSchema(schema);
      await deleteNamespace(NATS_URL, ns);
    });

    /** Ticks (ascending) in which every expected object was published. */
    function completeTicks(): number[] {
      return [...seen]
        .filter(([, m]) => [...expected].every((id) => m.has(id)))
        .map(([t]) => t)
        .sort((a, b) => a - b);
    }

    function duplicates(): string[] {
      const out: string[] = [];
      for (const [t, m] of seen) for (const [id, n] of m) if (n > 1) out.push(`object ${id} published ${n}x in tick ${new Date(t).toISOString()}`);
      return out;
    }

    test(`two hosts share the objects, one dies, the other takes over within ${suite.takeoverBoundMs / 1000} s`, async (t) => {
      const a = spawnHost('tracker-a');
      const b = spawnHost('tracker-b');
      await until('both hosts own shards', 60_000, () => a.shards > 0 && b.shards > 0 && a.shards + b.shards === 64, 100);
      // Settled: three consecutive complete ticks with both hosts holding shards.
      await until('three consecutive complete ticks', 30_000, () => {
        const ticks = completeTicks();
        const last = ticks.slice(-3);
        return last.length === 3 && last[2]! - last[0]! === 2000;
      }, 100);
      assert.deepEqual(duplicates(), [], 'no object twice in a tick while both run');

      // The objects the survivor owns by rendezvous: it must keep publishing them through the takeover.
      const survivorIds = [...expected].filter((id) => shardOfId.has(id) && rendezvousOwner(shardOfId.get(id)!, ['tracker-a', 'tracker-b']) === 'tracker-b');
      assert.ok(survivorIds.length > 0.3 * OBJECTS && survivorIds.length < 0.7 * OBJECTS, `survivor share ${survivorIds.length}`);

      // R1 on a busy machine: one spinning process per core while the takeover runs.
      const hogs = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
      let firstComplete: number;
      let coverage: Array<[number, number]>;
      try {
        const killedAt = Date.now();
        a.proc.kill('SIGKILL');
        await a.exited;
        await until('a complete tick after the kill', suite.takeoverBoundMs + 12_000, () => completeTicks().some((t) => t > killedAt), 100);
        firstComplete = completeTicks().find((t) => t > killedAt)!;
        // Every tick from the kill to the first complete one, with the objects published in it (0 for a tick with no frame at all).
        const firstTick = Math.ceil(killedAt / 1000) * 1000;
        coverage = [];
        for (let tick = firstTick; tick <= firstComplete; tick += 1000) coverage.push([tick - killedAt, seen.get(tick)?.size ?? 0]);
        t.diagnostic(`busy machine (${hogs.length} spinners): first complete tick ${firstComplete - killedAt} ms after SIGKILL; coverage per tick (ms after kill, objects of ${OBJECTS}): ${JSON.stringify(coverage)}; survivor share ${survivorIds.length}`);
        assert.ok(firstComplete - killedAt <= suite.takeoverBoundMs, `every object propagated again ${firstComplete - killedAt} ms after the kill (bound ${suite.takeoverBoundMs} ms)`);
        for (const [at, n] of coverage) assert.ok(n >= survivorIds.length, `coverage ${n} at +${at} ms fell below the survivor's share ${survivorIds.length}`);
      } finally {
        for (const h of hogs) h.kill('SIGKILL');
      }
      // And it stays complete afterwards.
      await sleep(2500);
      const later = completeTicks().filter((tick) => tick > firstComplete);
      assert.ok(later.length >= 2, 'ticks after the takeover stay complete');
      assert.deepEqual(duplicates(), [], 'no object ever published twice in one tick');
      assert.ok(b.shards === 64 || (await new Promise<boolean>((r) => setTimeout(() => r(b.shards === 64), 1500))), 'the survivor owns every shard');
      if (!suite.join) return;

      // A host joins: shards move to it, and never more than 2 ticks in a row go out incomplete.
      const joinAt = Date.now();
      const c = spawnHost('tracker-c');
      await until('the new host owns its share', 60_000, () => c.shards > 0 && b.shards + c.shards === 64, 100);
      await sleep(3000);
      const ticks = [...seen.keys()].filter((tick) => tick > joinAt && tick < Date.now() - 1500).sort((x, y) => x - y);
      let run = 0;
      let longest = 0;
      const incomplete: Array<[number, number]> = [];
      for (const tick of ticks) {
        const n = [...expected].filter((id) => seen.get(tick)!.has(id)).length;
        if (n < expected.size) {
          run++;
          incomplete.push([tick - joinAt, n]);
        } else run = 0;
        longest = Math.max(longest, run);
      }
      t.diagnostic(`join: ${ticks.length} ticks watched, incomplete (ms after the join, objects): ${JSON.stringify(incomplete)}; longest run ${longest}`);
      assert.ok(longest <= 2, `coverage below 100% for ${longest} ticks in a row after a join`);
      assert.deepEqual(duplicates(), [], 'no object ever published twice in one tick, across the join');
    });
  });
}
