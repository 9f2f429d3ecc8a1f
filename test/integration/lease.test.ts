/**
 * Leases and fencing on both buses (embedded, and NATS 2.9 on 127.0.0.1:4222
 * in a fresh namespace): exactly one winner, takeover only after expiry, a
 * stale holder's renew and release fail by CAS, and a FencedStore refuses a
 * smaller fence token.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { FencedError } from '../../protocol/errors.js';
import type { KvBucket } from '../../protocol/transport.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { FencedStore, decodeFenced, encodeFenced } from '../../actors/runtime/fencing.js';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { BUSES, quietLogger, sleep, type ClusterBus } from '../helpers/cluster-fixtures.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

for (const { kind, make } of BUSES) {
  describe(`leases and fencing on the ${kind} bus`, { timeout: 60_000 }, () => {
    const buses: ClusterBus[] = [];
    after(async () => {
      await Promise.all(buses.map((b) => b.cleanup()));
    });

    /** Two hosts' views of the leases bucket (separate connections on NATS). */
    async function twoHosts(): Promise<[KvBucket, KvBucket, ClusterBus]> {
      const bus = await make();
      buses.push(bus);
      const a = await (await bus.connect()).kv('leases');
      const b = await (await bus.connect()).kv('leases');
      return [a, b, bus];
    }

    test('two contenders: exactly one wins each key', async () => {
      const [ka, kb] = await twoHosts();
      const a = new LeaseManager({ bucket: ka, holder: 'host-a', leaseMs: 5000, logger: quietLogger() });
      const b = new LeaseManager({ bucket: kb, holder: 'host-b', leaseMs: 5000, logger: quietLogger() });
      const keys = Array.from({ length: 20 }, (_, i) => `tracker.${i}`);
      const results = await Promise.all(keys.map((k) => Promise.all([a.acquire(k), b.acquire(k)])));
      for (const [i, [la, lb]] of results.entries()) {
        assert.ok((la === null) !== (lb === null), `key ${keys[i]}: exactly one winner (a=${la?.revision}, b=${lb?.revision})`);
        const winner = (la ?? lb)!;
        const stored = await a.inspect(keys[i]!);
        assert.equal(stored?.holder, winner.holder);
        assert.equal(stored?.revision, winner.revision);
      }
      // A second round changes nothing: leases are held, not expired.
      for (const k of keys) {
        const holder = (await a.inspect(k))!.holder;
        const other = holder === 'host-a' ? b : a;
        assert.equal(await other.acquire(k), null);
      }
    });

    test('takeover only after expiry, with a larger fencing token', async () => {
      const [ka, kb] = await twoHosts();
      const leaseMs = 800;
      const a = new LeaseManager({ bucket: ka, holder: 'host-a', leaseMs, safetyMs: 200, logger: quietLogger() });
      const b = new LeaseManager({ bucket: kb, holder: 'host-b', leaseMs, safetyMs: 200, logger: quietLogger() });
      const la = await a.acquire('singleton.scheduler');
      assert.ok(la, 'a acquires a free lease');
      assert.ok(la.isValid());
      // b keeps trying; every attempt before expiresAt must fail.
      let taken = null;
      let attemptsBeforeExpiry = 0;
      while (!taken) {
        const before = Date.now();
        const outcome = await b.tryAcquire('singleton.scheduler');
        if (outcome.ok) {
          taken = outcome.lease;
          // When b decided, by its own clock (the new record's expiry less the lease): the
          // call's start can precede the expiry by the time its read took (CI: 7 ms).
          const decidedAt = taken.expiresAt - leaseMs;
          assert.ok(decidedAt >= la.expiresAt - 5, `taken over at ${decidedAt}, before expiry ${la.expiresAt}`);
        } else {
          if (outcome.holder !== null) assert.equal(outcome.holder, 'host-a');
          if (before < la.expiresAt - 50) attemptsBeforeExpiry++;
          await sleep(40);
        }
      }
      assert.ok(attemptsBeforeExpiry >= 3, 'b tried several times while the lease was live');
      assert.ok(taken.revision > la.revision, 'the new holder carries a larger fencing token');
      assert.equal(la.isValid(), false, 'the old lease is locally invalid by now');
    });

    test('a stale holder cannot renew or release; the current one can', async () => {
      const [ka, kb] = await twoHosts();
      const a = new LeaseManager({ bucket: ka, holder: 'host-a', leaseMs: 400, safetyMs: 100, logger: quietLogger() });
      const b = new LeaseManager({ bucket: kb, holder: 'host-b', leaseMs: 5000, logger: quietLogger() });
      const la = await a.acquire('tracker.7');
      assert.ok(la);
      // Renewal extends and raises the token.
      const la2 = await a.renew(la);
      assert.ok(la2 && la2.revision > la.revision && la2.expiresAt >= la.expiresAt);
      // Renewing with a superseded revision fails by CAS, even for the holder itself.
      assert.equal(await a.renew(la), null);
      await sleep(450);
      assert.equal(la2.isValid(), false, 'paused past the lease: locally invalid');
      const lb = await b.acquire('tracker.7');
      assert.ok(lb, 'b takes over the expired lease');
      assert.equal(await a.renew(la2), null, 'stale renew fails');
      assert.equal(await a.release(la2), false, 'stale release fails');
      assert.equal((await b.inspect('tracker.7'))?.holder, 'host-b', 'the stale holder changed nothing');
      assert.ok(a.stats.lost >= 2);
      // The current holder releases, and the key is free at once.
      assert.equal(await b.release(lb), true);
      const again = await a.acquire('tracker.7');
      assert.ok(again && again.revision > lb.revision);
    });

    test('local validity ends safetyMs before expiresAt', async () => {
      const [ka] = await twoHosts();
      const a = new LeaseManager({ bucket: ka, holder: 'host-a', leaseMs: 600, safetyMs: 300, logger: quietLogger() });
      const l = await a.acquire('tracker.1');
      assert.ok(l && l.isValid());
      assert.equal(l.isValid(l.expiresAt - 300), false);
      assert.equal(l.isValid(l.expiresAt - 301), true);
      await sleep(Math.max(0, l.expiresAt - 300 - Date.now()) + 20);
      assert.equal(l.isValid(), false, 'invalid once the margin is reached, though the record has not expired');
      assert.ok(Date.now() < l.expiresAt, 'the record itself is still live');
      assert.equal(l.remainingMs(), 0);
    });

    test('a malformed lease record is counted and treated as expired', async () => {
      const [ka] = await twoHosts();
      await ka.put('tracker.9', enc('{"not":"a lease"'));
      const metrics = createMetrics();
      const a = new LeaseManager({ bucket: ka, holder: 'host-a', leaseMs: 2000, logger: quietLogger(), metrics });
      const l = await a.acquire('tracker.9');
      assert.ok(l, 'taken over');
      assert.equal(a.stats.malformed, 1);
      assert.match(await metrics.registry.metrics(), /sw_messages_rejected_total\{where="kv.leases",code="SW_ERR_DECODE"\} 1\b/);
      metrics.close();
      assert.equal((await a.inspect('tracker.9'))?.holder, 'host-a');
    });

    test('bad arguments are rejected with a clear reason', async () => {
      const [ka] = await twoHosts();
      assert.throws(() => new LeaseManager({ bucket: ka, holder: '', leaseMs: 1000 }), /holder/);
      assert.throws(() => new LeaseManager({ bucket: ka, holder: 'x', leaseMs: 10 }), /leaseMs/);
      assert.throws(() => new LeaseManager({ bucket: ka, holder: 'x', leaseMs: 1000, safetyMs: 1000 }), /safetyMs/);
    });

    test('FencedStore rejects a lower fence token and accepts equal or higher', async () => {
      const bus = await make();
      buses.push(bus);
      const shards = await (await bus.connect()).kv('shards');
      const store = new FencedStore({ bucket: shards, logger: quietLogger() });
      await store.write('state.tracker.3', enc('v5'), 5);
      await assert.rejects(store.write('state.tracker.3', enc('v3'), 3), (err: unknown) => err instanceof FencedError && err.code === 'SW_ERR_FENCED');
      assert.equal(dec((await store.read('state.tracker.3'))!.value), 'v5', 'a fenced write changes nothing');
      await store.write('state.tracker.3', enc('v5b'), 5);
      await store.write('state.tracker.3', enc('v9'), 9);
      const rec = await store.read('state.tracker.3');
      assert.equal(rec?.fenceToken, 9);
      assert.equal(dec(rec!.value), 'v9');
      assert.equal(store.stats.fenced, 1);
      // claim raises the fence and keeps the value.
      await store.claim('state.tracker.3', 12);
      assert.equal(dec((await store.read('state.tracker.3'))!.value), 'v9');
      await assert.rejects(store.write('state.tracker.3', enc('late'), 9), FencedError);
      await assert.rejects(store.claim('state.tracker.3', 11), FencedError);
    });

    test('FencedStore with real lease tokens: the former holder is fenced out once the new one claims', async () => {
      const [ka, kb, bus] = await twoHosts();
      const shards = await (await bus.connect()).kv('shards');
      const a = new LeaseManager({ bucket: ka, holder: 'host-a', leaseMs: 300, safetyMs: 50, logger: quietLogger() });
      const b = new LeaseManager({ bucket: kb, holder: 'host-b', leaseMs: 5000, logger: quietLogger() });
      const store = new FencedStore({ bucket: shards, logger: quietLogger() });
      const la = (await a.acquire('tracker.5'))!;
      await store.write('fence.tracker.5', enc('from a'), la.fenceToken);
      await sleep(350);
      const lb = (await b.acquire('tracker.5'))!;
      assert.ok(lb);
      await store.claim('fence.tracker.5', lb.fenceToken);
      await assert.rejects(store.write('fence.tracker.5', enc('from a, late'), la.fenceToken), FencedError);
      await store.write('fence.tracker.5', enc('from b'), lb.fenceToken);
      assert.equal(dec((await store.read('fence.tracker.5'))!.value), 'from b');
    });

    test('FencedStore under racing writers keeps the largest token', async () => {
      const bus = await make();
      buses.push(bus);
      const stores = await Promise.all([0, 1, 2].map(async () => new FencedStore({ bucket: await (await bus.connect()).kv('shards'), logger: quietLogger() })));
      const tokens = Array.from({ length: 30 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      const outcomes = await Promise.allSettled(tokens.map((t, i) => stores[i % 3]!.write('race', enc(`t${t}`), t)));
      for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof FencedError, String(o.reason));
      const final = await stores[0]!.read('race');
      assert.equal(final?.fenceToken, 30);
      assert.equal(dec(final!.value), 't30');
    });

    test('a malformed fenced record is counted and treated as absent', async () => {
      const bus = await make();
      buses.push(bus);
      const shards = await (await bus.connect()).kv('shards');
      await shards.put('junk', enc('garbage'));
      const store = new FencedStore({ bucket: shards, logger: quietLogger() });
      assert.equal(await store.read('junk'), null);
      await store.write('junk', enc('ok'), 1);
      assert.equal(store.stats.malformed, 2);
      assert.deepEqual(decodeFenced(encodeFenced(enc('x'), 2 ** 40)), { value: enc('x'), fenceToken: 2 ** 40 });
      await assert.rejects(store.write('junk', enc('x'), -1), /fence token/);
    });
  });
}
