/**
 * SingletonLease on the embedded bus: of two contenders exactly one leads;
 * when the leader stops without releasing (a crash) the other takes over
 * only after the lease has expired; a renewal that throws keeps leadership
 * while the lease is locally valid ('holding'), then loses it; a renewal
 * answered by a takeover loses it at once.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { StarWeatherError } from '../../protocol/errors.js';
import type { KvBucket } from '../../protocol/transport.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { SingletonLease, type SingletonRole } from '../../actors/runtime/index.js';
import { embeddedBus, quietLogger, sleep, type ClusterBus } from '../helpers/cluster-fixtures.js';

const KEY = 'singleton.test';

/** The real bucket, with writes that fail like a transport outage while `down` is set. */
function flaky(bucket: KvBucket): { bucket: KvBucket; setDown(down: boolean): void } {
  let down = false;
  const fail = (): Promise<never> => Promise.reject(new StarWeatherError('SW_ERR_TRANSPORT', 'test: bus unreachable'));
  const wrapped: KvBucket = {
    name: bucket.name,
    get: (k) => bucket.get(k),
    put: (k, v) => (down ? fail() : bucket.put(k, v)),
    create: (k, v) => (down ? fail() : bucket.create(k, v)),
    update: (k, v, r) => (down ? fail() : bucket.update(k, v, r)),
    delete: (k, r) => bucket.delete(k, r),
    keys: (p) => bucket.keys(p),
    entries: (p) => bucket.entries(p),
    watch: (cb, p) => bucket.watch(cb, p),
  };
  return { bucket: wrapped, setDown: (d) => void (down = d) };
}

/** Tick every 100 ms until `singleton` leads or `ms` pass; the last role. */
async function tickUntilLeader(singleton: SingletonLease, ms: number): Promise<SingletonRole> {
  const deadline = Date.now() + ms;
  let role = await singleton.tick();
  while (role !== 'leader' && Date.now() < deadline) {
    await sleep(100);
    role = await singleton.tick();
  }
  return role;
}

describe('SingletonLease on the embedded bus', { timeout: 60_000 }, () => {
  const buses: ClusterBus[] = [];
  after(async () => {
    await Promise.all(buses.map((b) => b.cleanup()));
  });

  async function contender(bus: ClusterBus, holder: string, leaseMs: number, events: string[]) {
    const f = flaky(await (await bus.connect()).kv('leases'));
    const leases = new LeaseManager({ bucket: f.bucket, holder, leaseMs, safetyMs: 200, logger: quietLogger(holder) });
    const singleton = new SingletonLease({
      leases,
      key: KEY,
      logger: quietLogger(holder),
      name: holder,
      onLead: (lease) => {
        events.push(`${holder} lead ${lease.fenceToken}`);
        return { extra: 1 };
      },
      onLose: (why) => events.push(`${holder} lose ${why}`),
    });
    return { singleton, leases, setDown: f.setDown, holder };
  }

  /** A fresh bus with hosts a and b (1500 ms leases), and the onLead/onLose events of every contender on it. */
  async function twoContenders() {
    const bus = await embeddedBus();
    buses.push(bus);
    const events: string[] = [];
    const a = await contender(bus, 'host-a', 1500, events);
    const b = await contender(bus, 'host-b', 1500, events);
    return { bus, events, a, b };
  }

  test('two contenders: one leader; it keeps the lease by renewing; the other stays follower', async () => {
    const { bus, events, a, b } = await twoContenders();
    const roles: SingletonRole[] = await Promise.all([a.singleton.tick(), b.singleton.tick()]);
    assert.deepEqual([...roles].sort(), ['follower', 'leader']);
    const [leader, follower] = roles[0] === 'leader' ? [a, b] : [b, a];
    assert.equal(leader.singleton.isLeader, true);
    assert.equal(follower.singleton.isLeader, false);
    assert.equal(follower.singleton.lease, null);
    assert.equal(leader.singleton.leaderships, 1);
    assert.deepEqual(events, [`${leader.holder} lead ${leader.singleton.lease!.fenceToken}`]);
    // Renewing every third of the lease for longer than a lease: still the same leader.
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      const before = leader.singleton.lease!.fenceToken;
      assert.equal(await leader.singleton.tick(), 'leader');
      assert.ok(leader.singleton.lease!.fenceToken > before, 'a renewal raises the fence token');
      assert.equal(await follower.singleton.tick(), 'follower');
    }
    assert.equal((await a.leases.inspect(KEY))?.holder, leader.holder);
    assert.equal(leader.singleton.leaderships, 1);
    // A clean stop releases the lease: the other takes over at once.
    leader.singleton.stop();
    assert.equal(leader.singleton.isLeader, false, 'stopping ends leadership locally at once');
    await leader.singleton.release();
    assert.equal(await follower.singleton.tick(), 'leader');
    assert.equal(follower.singleton.isLeader, true);
  });

  test('a leader that stops without releasing is replaced only after its lease expires', async () => {
    const { bus, events, a, b } = await twoContenders();
    assert.equal(await a.singleton.tick(), 'leader');
    const oldToken = a.singleton.lease!.fenceToken;
    await a.singleton.release({ release: false });
    assert.equal(a.singleton.isLeader, false);
    assert.equal((await b.leases.inspect(KEY))?.holder, 'host-a', 'the crashed leader\'s record is still there');
    const stoppedAt = Date.now();
    assert.equal(await b.singleton.tick(), 'follower', 'not before expiry');
    assert.equal(await tickUntilLeader(b.singleton, 10_000), 'leader', 'taken over within 10 s');
    assert.ok(Date.now() - stoppedAt >= 1000, 'not long before the 1500 ms lease ran out');
    assert.ok(b.singleton.lease!.fenceToken > oldToken, 'the new leader carries a larger fence token');
    // A stopped singleton never leads again, even if a tick is still in flight.
    assert.equal(await a.singleton.tick(), 'follower');
  });

  test('a failing renewal keeps leadership while locally valid, then loses it; a takeover loses it at once', async () => {
    const { bus, events, a, b } = await twoContenders();
    assert.equal(await a.singleton.tick(), 'leader');
    a.setDown(true);
    assert.equal(await a.singleton.tick(), 'holding', 'renewal failed, lease still valid');
    assert.equal(a.singleton.isLeader, true);
    assert.notEqual(a.singleton.lease, null);
    // Local validity ends safetyMs (200 ms) before the 1500 ms lease expires.
    await sleep(1400);
    assert.equal(a.singleton.isLeader, false, 'locally invalid by now');
    assert.equal(await a.singleton.tick(), 'follower');
    assert.equal(a.singleton.lease, null);
    assert.ok(events.includes('host-a lose lease expired while renewals failed'), events.join('; '));
    // b takes the expired lease; a, back on the bus, cannot take it back while b renews.
    a.setDown(false);
    assert.equal(await tickUntilLeader(b.singleton, 10_000), 'leader');
    assert.equal(await a.singleton.tick(), 'follower');
    assert.equal(a.singleton.leaderships, 1);

    // Takeover: a renewal answered "not yours" ends leadership at once.
    await b.singleton.release({ release: false });
    const c = await contender(bus, 'host-c', 1500, events);
    assert.equal(await tickUntilLeader(c.singleton, 10_000), 'leader');
    const d = await contender(bus, 'host-d', 1500, events);
    const stolen = await d.leases.acquire(KEY);
    assert.equal(stolen, null, 'held by c: d cannot acquire');
    // Force a takeover: delete c's record behind its back, d creates a new one.
    await (await bus.connect()).kv('leases').then((kv) => kv.delete(KEY));
    assert.notEqual(await d.leases.acquire(KEY), null);
    assert.equal(c.singleton.isLeader, true, 'c does not know yet');
    assert.equal(await c.singleton.tick(), 'follower');
    assert.equal(c.singleton.isLeader, false);
    assert.ok(events.includes('host-c lose lease taken over'), events.join('; '));
  });
});
