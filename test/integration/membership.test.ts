/**
 * Membership on both buses: join, heartbeat, drain, leave; a dead host (a
 * record nobody refreshes) drops out by its own expiresAt, without any KV
 * event; malformed records are ignored and counted.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemberMessage, type Member } from '../../protocol/messages/cluster.js';
import { Membership } from '../../actors/runtime/membership.js';
import { BUSES, quietLogger, sleep, until, type ClusterBus } from '../helpers/cluster-fixtures.js';

const HEARTBEAT_MS = 200;
const TTL_MS = 800;

for (const { kind, make } of BUSES) {
  describe(`membership on the ${kind} bus`, { timeout: 60_000 }, () => {
    const buses: ClusterBus[] = [];
    const members: Membership[] = [];
    after(async () => {
      await Promise.all(members.map((m) => m.leave()));
      await Promise.all(buses.map((b) => b.cleanup()));
    });

    async function bus(): Promise<ClusterBus> {
      const b = await make();
      buses.push(b);
      return b;
    }

    async function host(b: ClusterBus, hostId: string, role: Member['role'] = 'tracker'): Promise<Membership> {
      const m = new Membership({ bucket: await (await b.connect()).kv('members'), role, hostId, nodeId: 'node-1', heartbeatMs: HEARTBEAT_MS, memberTtlMs: TTL_MS, logger: quietLogger() });
      members.push(m);
      return m;
    }

    test('join, heartbeat past the TTL, leave', async () => {
      const b = await bus();
      const a = await host(b, 'host-a');
      const c = await host(b, 'host-c');
      const g = await host(b, 'gw-1', 'gateway');
      await Promise.all([a.join(), c.join(), g.join()]);
      assert.deepEqual((await a.liveMembers()).map((m) => m.hostId), ['host-a', 'host-c']);
      assert.deepEqual((await a.liveMembers('gateway')).map((m) => m.hostId), ['gw-1']);
      // Heartbeats keep the records live well past one TTL.
      await sleep(TTL_MS * 2);
      const live = await c.liveMembers();
      assert.deepEqual(live.map((m) => m.hostId), ['host-a', 'host-c']);
      assert.ok(live.every((m) => m.expiresAt > Date.now() && m.pid === process.pid && m.draining === false));
      assert.ok(a.stats.heartbeats >= 4, `heartbeats: ${a.stats.heartbeats}`);
      assert.ok(a.isLive());
      await a.leave();
      assert.deepEqual((await c.liveMembers()).map((m) => m.hostId), ['host-c']);
      assert.equal(a.isLive(), false);
    });

    test('watch sees joins, drains and leaves at once, and an expired record within a rescan', async () => {
      const b = await bus();
      const a = await host(b, 'host-a');
      await a.join();
      const seen: Array<{ at: number; ids: string }> = [];
      // Listings only once a minute: joins and leaves must come from the KV
      // watch, and the ghost's expiry from the local re-evaluation.
      const sub = await a.watch('tracker', (ms) => seen.push({ at: Date.now(), ids: ms.map((m) => `${m.hostId}${m.draining ? '(draining)' : ''}`).join(',') }), HEARTBEAT_MS, 60_000);
      try {
        assert.equal(seen.at(-1)?.ids, 'host-a', 'called at once with the current members');
        const c = await host(b, 'host-c');
        await c.join();
        await until('join seen', 5000, () => seen.at(-1)?.ids === 'host-a,host-c');
        await c.drain();
        await until('drain seen', 5000, () => seen.at(-1)?.ids === 'host-a,host-c(draining)');
        await c.leave();
        await until('leave seen', 5000, () => seen.at(-1)?.ids === 'host-a');

        // A dead host: its record is written once and never refreshed (as
        // after SIGKILL). No KV event marks its death; the rescan must.
        const kv = await (await b.connect()).kv('members');
        const now = Date.now();
        const ghost: Member = { v: 1, hostId: 'ghost', nodeId: 'node-9', role: 'tracker', pid: 1, startedAt: now, heartbeatAt: now, expiresAt: now + 2500, draining: false };
        await kv.put('tracker.ghost', MemberMessage.encode(ghost));
        await until('ghost seen', 5000, () => seen.at(-1)?.ids === 'ghost,host-a');
        await until('ghost expiry seen', 2500 + HEARTBEAT_MS * 3 + 1000, () => seen.at(-1)?.ids === 'host-a');
        assert.ok(Date.now() >= ghost.expiresAt, 'not dropped before its expiresAt');
      } finally {
        sub.unsubscribe();
      }
    });

    test('malformed member records are ignored and counted once', async () => {
      const b = await bus();
      const a = await host(b, 'host-a');
      await a.join();
      const kv = await (await b.connect()).kv('members');
      await kv.put('tracker.junk', new TextEncoder().encode('{"v":1,"hostId":"junk"}'));
      // A valid record under the wrong key is not a member either.
      const now = Date.now();
      await kv.put('tracker.impostor', MemberMessage.encode({ v: 1, hostId: 'someone-else', nodeId: 'n', role: 'tracker', pid: 1, startedAt: now, heartbeatAt: now, expiresAt: now + 60_000, draining: false }));
      assert.deepEqual((await a.liveMembers()).map((m) => m.hostId), ['host-a']);
      assert.deepEqual((await a.liveMembers()).map((m) => m.hostId), ['host-a']);
      assert.equal(a.stats.malformed, 2, 'the junk record and the record under the wrong key, each counted once');
    });

    test('bad options are rejected with a clear reason', async () => {
      const b = await bus();
      const kv = await (await b.connect()).kv('members');
      const base = { bucket: kv, role: 'tracker' as const, hostId: 'h', nodeId: 'n', heartbeatMs: 100, memberTtlMs: 500 };
      assert.throws(() => new Membership({ ...base, hostId: 'a.b' }), /hostId/);
      assert.throws(() => new Membership({ ...base, role: 'nope' as Member['role'] }), /role/);
      assert.throws(() => new Membership({ ...base, memberTtlMs: 100 }), /memberTtlMs/);
    });
  });
}
