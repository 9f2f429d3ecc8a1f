/**
 * R5 (RELIABILITY.md): SIGSTOP a shard host past its lease; a peer takes its
 * shards over and raises their fences; SIGCONT. Right after resuming, the old
 * host attempts fenced writes with its old tokens: every one must be rejected
 * with FencedError, its local lease check must already say "invalid", and it
 * must report releasing those shards rather than acting on them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { FencedStore } from '../../actors/runtime/fencing.js';
import { createLogger } from '../../actors/runtime/log.js';
import { rendezvousOwner } from '../../actors/runtime/sharding.js';
import { ShardHostCluster } from '../helpers/shard-hosts.js';
import { NATS_URL } from '../helpers/cluster-fixtures.js';

const SETTINGS = { shardCount: 16, leaseMs: 3000, heartbeatMs: 300, memberTtlMs: 1500 };

let cluster: ShardHostCluster | null = null;
let stopped: { cluster: ShardHostCluster; hostId: string } | null = null;
after(async () => {
  // A SIGSTOPped child is killed too (SIGKILL ends stopped processes).
  if (stopped) stopped.cluster.signal(stopped.hostId, 'SIGCONT');
  await cluster?.destroy();
});

test('R5: a host paused past its lease is fenced out and releases its shards on resume', { timeout: 90_000 }, async () => {
  const c = (cluster = await ShardHostCluster.create(SETTINGS));
  await Promise.all([c.start('host-a'), c.start('host-b')]);
  await c.waitUntil('two hosts own every shard', 15_000, () => {
    if (!c.everyShardOwnedOnce()) return false;
    for (let s = 0; s < SETTINGS.shardCount; s++) if (!c.owned().get(rendezvousOwner(s, ['host-a', 'host-b'])!)?.has(s)) return false;
    return true;
  });
  const victimShards = [...c.owned().get('host-a')!].sort((x, y) => x - y);
  assert.ok(victimShards.length > 0, 'host-a holds shards');
  // Let at least one renewal happen, so the stale token is a renewed one, not the first.
  await new Promise((r) => setTimeout(r, SETTINGS.leaseMs / 2));

  const stopAt = Date.now();
  c.signal('host-a', 'SIGSTOP');
  stopped = { cluster: c, hostId: 'host-a' };
  const tookOver = await c.waitUntil('host-b owns every shard', 15_000, () => c.owned().get('host-b')?.size === SETTINGS.shardCount);
  console.log(`# host-b took over ${victimShards.length} shards ${tookOver} ms after SIGSTOP`);
  const takeovers = c.reports.filter((r) => r.type === 'acquire' && r.hostId === 'host-b' && victimShards.includes(r.shard!) && r.at >= stopAt);
  assert.equal(takeovers.length, victimShards.length, 'each of host-a\'s shards was acquired by host-b after the pause began');
  // Takeover only after the paused host's lease expired: at least leaseMs minus one renewal period after the stop.
  for (const r of takeovers) assert.ok(r.at - stopAt >= SETTINGS.leaseMs - SETTINGS.leaseMs / 3 - 100, `shard ${r.shard} taken ${r.at - stopAt} ms after the stop`);

  // Resume host-a and at once replay its old writes.
  const staleResult = c.next((r) => r.type === 'stale-result' && r.hostId === 'host-a', 15_000, 'host-a\'s stale-write results');
  c.signal('host-a', 'SIGCONT');
  stopped = null;
  c.send('host-a', { cmd: 'write-stale', shards: victimShards });
  const result = await staleResult;
  const results = result.results!;
  assert.equal(results.length, victimShards.length);
  for (const r of results) {
    assert.equal(r.write, 'fenced', `shard ${r.shard}: the stale write must be rejected by fencing (${JSON.stringify(r)})`);
    assert.equal(r.leaseValid, false, `shard ${r.shard}: the old lease must be locally invalid on resume`);
    assert.equal(r.ownsNow, false, `shard ${r.shard}: the manager must not consider it owned`);
  }

  // host-a reports releasing every one of those shards (expired or lost), rather than acting.
  await c.waitUntil('host-a reports releasing its old shards', 10_000, () =>
    victimShards.every((s) => c.reports.some((r) => r.type === 'release' && r.hostId === 'host-a' && r.shard === s && r.at >= stopAt)),
  );
  const reasons = c.reports.filter((r) => r.type === 'release' && r.hostId === 'host-a' && r.at >= stopAt && victimShards.includes(r.shard!)).map((r) => r.reason);
  assert.ok(reasons.every((x) => x === 'expired' || x === 'lost'), `release reasons: ${reasons.join(',')}`);

  // The fence records still carry host-b's (or a later) token, never host-a's stale one.
  const t = await connectNats({ servers: NATS_URL, names: c.names });
  try {
    const store = new FencedStore({ bucket: await t.kv('shards'), logger: createLogger({ nodeId: 'test', level: 'silent' }) });
    for (const r of results) {
      const rec = await store.read(`fence.tracker.${r.shard}`);
      assert.ok(rec && rec.fenceToken > (r.token as number), `shard ${r.shard}: fence ${rec?.fenceToken} above the stale token ${r.token}`);
      assert.ok(!new TextDecoder().decode(rec.value).includes('stale write'), 'no stale value landed');
    }
  } finally {
    await t.close();
  }
});
