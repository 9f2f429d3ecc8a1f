/**
 * Peer presence on both buses: a peer whose presence answerer is gone (on
 * NATS, what a closed connection looks like: "no responders") is buried
 * after the confirm time, its leases and member record given back; a peer
 * that answers is never buried, however stale its record; and a peer whose
 * member record is rewritten while it does not answer is alive, not buried.
 *
 * The crashed peer is simulated as a crash leaves it: its member record and
 * its lease still in the buckets, unexpired (60 s), and nothing answering
 * its presence subject.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemberMessage } from '../../protocol/messages/cluster.js';
import type { Subscription, Transport } from '../../protocol/transport.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { Membership, memberKey } from '../../actors/runtime/membership.js';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { PeerPresence } from '../../actors/runtime/presence.js';
import { BUSES, quietLogger, sleep, until, type ClusterBus } from '../helpers/cluster-fixtures.js';

const CONFIRM_MS = 600;
const INTERVAL_MS = 100;

for (const { kind, make } of BUSES) {
  describe(`peer presence on the ${kind} bus`, { timeout: 60_000 }, () => {
    const buses: ClusterBus[] = [];
    const stops: Array<() => Promise<void> | void> = [];
    after(async () => {
      for (const s of stops.reverse()) await s();
      await Promise.all(buses.map((b) => b.cleanup()));
    });

    /** A peer as a crash would leave it: an unexpired record and lease, and its presence answerer (to take away). */
    async function crashablePeer(t: Transport, b: ClusterBus, hostId: string): Promise<{ answer: Subscription; rewrite(): Promise<void> }> {
      const members = await t.kv('members');
      const record = () => {
        const now = Date.now();
        return MemberMessage.encode({ v: 1, hostId, nodeId: 'node-b', role: 'tracker', pid: 1, startedAt: now, heartbeatAt: now, expiresAt: now + 60_000, draining: false });
      };
      await members.put(memberKey('tracker', hostId), record());
      const lease = await new LeaseManager({ bucket: await t.kv('leases'), holder: hostId, leaseMs: 60_000 }).acquire('tracker.7');
      assert.ok(lease, 'the peer holds its lease');
      const answer = t.answerPresence(b.names.subjects.hostPresence(hostId));
      await t.flush();
      return { answer, rewrite: async () => void (await members.put(memberKey('tracker', hostId), record())) };
    }

    async function watcher(b: ClusterBus): Promise<{ t: Transport; burials: () => Promise<number> }> {
      const t = await b.connect();
      const m = new Membership({ bucket: await t.kv('members'), role: 'tracker', hostId: 'host-a', nodeId: 'node-a', heartbeatMs: 200, memberTtlMs: 1000, logger: quietLogger() });
      await m.join();
      stops.push(() => m.leave());
      const metrics = createMetrics();
      const presence = new PeerPresence({ transport: t, names: b.names, membership: m, confirmMs: CONFIRM_MS, intervalMs: INTERVAL_MS, logger: quietLogger(), metrics });
      await presence.start();
      stops.push(() => presence.stop());
      const burials = async () => (await metrics.registry.getSingleMetric('sw_host_burials_total')!.get()).values.reduce((n, v) => n + v.value, 0);
      return { t, burials };
    }

    test('a peer that answers is left alone; once nothing answers for it, it is buried after the confirm time', async () => {
      const b = await make();
      buses.push(b);
      const a = await watcher(b);
      const peerBus = await b.connect();
      const peer = await crashablePeer(peerBus, b, 'host-b');
      const members = await a.t.kv('members');
      const leases = await a.t.kv('leases');

      await sleep(CONFIRM_MS * 3);
      assert.ok(await members.get(memberKey('tracker', 'host-b')), 'an answering peer keeps its record');
      assert.ok(await leases.get('tracker.7'), 'and its lease');
      assert.equal(await a.burials(), 0);

      const crashedAt = Date.now();
      peer.answer.unsubscribe();
      await peerBus.flush();
      await until('the peer buried', 10_000, async () => (await members.get(memberKey('tracker', 'host-b'))) === null, 20);
      const buriedMs = Date.now() - crashedAt;
      assert.equal(await leases.get('tracker.7'), null, 'its lease was given back before its expiry');
      assert.equal(await a.burials(), 1);
      assert.ok(buriedMs >= CONFIRM_MS, `buried after ${buriedMs} ms, not before the confirm time (${CONFIRM_MS} ms)`);
      assert.ok(buriedMs < CONFIRM_MS + 2000, `buried ${buriedMs} ms after the crash`);
    });

    test('a peer that does not answer but whose record is rewritten is alive: not buried', async () => {
      const b = await make();
      buses.push(b);
      const a = await watcher(b);
      const peerBus = await b.connect();
      const peer = await crashablePeer(peerBus, b, 'host-c');
      peer.answer.unsubscribe();
      await peerBus.flush();
      const end = Date.now() + CONFIRM_MS * 4;
      while (Date.now() < end) {
        await peer.rewrite();
        await sleep(INTERVAL_MS);
      }
      assert.ok(await (await a.t.kv('members')).get(memberKey('tracker', 'host-c')), 'its record stays');
      assert.ok(await (await a.t.kv('leases')).get('tracker.7'), 'and its lease');
      assert.equal(await a.burials(), 0);
    });
  });
}
