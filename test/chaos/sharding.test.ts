/**
 * Sharding with real processes on NATS (127.0.0.1:4222, fresh namespace):
 * two shard hosts own every shard; a third joins and the shards rebalance to
 * the rendezvous assignment within seconds; one host is SIGKILLed and its
 * shards (and so its share of 10,000 entity ids) are owned again within 10 s.
 * Throughout, no shard is ever claimed by two hosts at once, judged from the
 * hosts' own acquire/release reports.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rendezvousOwner, shardOf } from '../../actors/runtime/sharding.js';
import { ShardHostCluster } from '../helpers/shard-hosts.js';
import { sleep } from '../helpers/cluster-fixtures.js';

const SETTINGS = { shardCount: 64, leaseMs: 3000, heartbeatMs: 300, memberTtlMs: 1500 };
const ENTITY_IDS = Array.from({ length: 10_000 }, (_, i) => `sat-${10_000 + i}`);

let cluster: ShardHostCluster | null = null;
after(async () => {
  await cluster?.destroy();
});

/** Every id's shard is owned by exactly one host; returns the id count per host. */
function entityOwnership(c: ShardHostCluster): Map<string, number> {
  const owners = new Map<number, string[]>();
  for (const [host, shards] of c.owned()) for (const s of shards) owners.set(s, [...(owners.get(s) ?? []), host]);
  const perHost = new Map<string, number>();
  for (const id of ENTITY_IDS) {
    const hosts = owners.get(shardOf(id, SETTINGS.shardCount)) ?? [];
    assert.equal(hosts.length, 1, `${id} owned by ${hosts.length} hosts (${hosts.join(',')})`);
    perHost.set(hosts[0]!, (perHost.get(hosts[0]!) ?? 0) + 1);
  }
  return perHost;
}

/** Ownership equals the rendezvous assignment over `hosts`. */
function matchesRendezvous(c: ShardHostCluster, hosts: string[]): boolean {
  if (!c.everyShardOwnedOnce()) return false;
  const owned = c.owned();
  for (let s = 0; s < SETTINGS.shardCount; s++) if (!owned.get(rendezvousOwner(s, hosts)!)?.has(s)) return false;
  return true;
}

test('shard hosts: join rebalances within seconds, a SIGKILLed host\'s shards are re-owned within 10 s, never two owners', { timeout: 120_000 }, async () => {
  const c = (cluster = await ShardHostCluster.create(SETTINGS));
  await Promise.all([c.start('host-a'), c.start('host-b')]);
  const tTwo = await c.waitUntil('two hosts own every shard', 15_000, () => matchesRendezvous(c, ['host-a', 'host-b']));
  console.log(`# two hosts settled ${tTwo} ms after both were ready`);
  let perHost = entityOwnership(c);
  assert.equal([...perHost.values()].reduce((a, b) => a + b, 0), ENTITY_IDS.length);

  const joinAt = Date.now();
  await c.start('host-c');
  const readyMs = Date.now() - joinAt;
  const tJoin = await c.waitUntil('rebalance onto three hosts', 15_000, () => matchesRendezvous(c, ['host-a', 'host-b', 'host-c']));
  console.log(`# third host ready after ${readyMs} ms; rebalance done ${tJoin} ms later; shards ${[...c.owned()].map(([h, s]) => `${h}=${s.size}`).join(' ')}`);
  assert.ok(tJoin < 8000, `rebalance took ${tJoin} ms after the new host was ready; it must take a few seconds at most`);
  for (const [host, shards] of c.owned()) {
    assert.ok(shards.size >= SETTINGS.shardCount / 3 / 2 && shards.size <= (SETTINGS.shardCount / 3) * 1.6, `${host} owns ${shards.size} of ${SETTINGS.shardCount}`);
  }
  perHost = entityOwnership(c);
  for (const [host, n] of perHost) assert.ok(n > ENTITY_IDS.length / 3 / 2, `${host} owns ${n} ids`);
  // Stay stable for a while: no further moves once settled.
  const before = c.reports.length;
  await sleep(1500);
  assert.ok(matchesRendezvous(c, ['host-a', 'host-b', 'host-c']), 'ownership stayed put');
  assert.equal(c.reports.slice(before).filter((r) => r.type === 'acquire' || r.type === 'release').length, 0, 'no churn once settled');

  const killedShards = c.owned().get('host-b')!.size;
  const killAt = c.kill('host-b');
  await c.waitUntil('the killed host\'s shards owned again', 10_000, () => matchesRendezvous(c, ['host-a', 'host-c']));
  const reownMs = Date.now() - killAt;
  console.log(`# ${killedShards} shards of the SIGKILLed host re-owned ${reownMs} ms after the kill`);
  assert.ok(reownMs <= 10_000, `re-owned after ${reownMs} ms`);
  perHost = entityOwnership(c);
  assert.deepEqual([...perHost.keys()].sort(), ['host-a', 'host-c']);

  assert.deepEqual(c.overlaps(), [], 'no shard was ever claimed by two hosts at once');
  const releases = c.reports.filter((r) => r.type === 'release');
  assert.ok(releases.every((r) => r.reason === 'rebalance'), `only graceful releases: ${JSON.stringify(releases.filter((r) => r.reason !== 'rebalance'))}`);
});
