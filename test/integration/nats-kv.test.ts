/**
 * KV and core pub/sub on the NATS transport: compare-and-set semantics that
 * leases and fencing depend on, prefix listing, watches, and subjects with
 * wildcards.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, type NatsTransport } from '../../actors/runtime/transport/nats.js';
import { CasConflictError } from '../../protocol/errors.js';
import type { Names } from '../../protocol/names.js';
import type { BusMessage, KvChange } from '../../protocol/transport.js';
import { NATS_URL, dec, deleteNamespace, enc, fastTopology, freshNames, waitFor } from './nats-fixtures.js';

let t: NatsTransport;
let n: Names;
before(async () => {
  n = freshNames();
  t = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology() });
  await t.provision();
});
after(async () => {
  await t.close();
  await deleteNamespace(NATS_URL, n);
});

test('create / update / delete are compare-and-set with CasConflictError', async () => {
  const kv = await t.kv('leases');
  assert.equal(kv.name, n.buckets.leases);
  assert.equal(await kv.get('shard.7'), null);
  const r1 = await kv.create('shard.7', enc('node-a'));
  await assert.rejects(kv.create('shard.7', enc('node-b')), (e: unknown) => e instanceof CasConflictError && e.code === 'SW_ERR_CAS_CONFLICT');
  const r2 = await kv.update('shard.7', enc('node-a2'), r1);
  assert.ok(r2 > r1);
  await assert.rejects(kv.update('shard.7', enc('stale'), r1), CasConflictError);
  const e = await kv.get('shard.7');
  assert.deepEqual(e && { key: e.key, value: dec(e.value), revision: e.revision }, { key: 'shard.7', value: 'node-a2', revision: r2 });
  await assert.rejects(kv.delete('shard.7', r1), CasConflictError);
  await kv.delete('shard.7', r2);
  assert.equal(await kv.get('shard.7'), null);
  // create over a deleted key succeeds (the delete marker is not a live value)
  const r3 = await kv.create('shard.7', enc('node-c'));
  assert.ok(r3 > r2);
  await kv.delete('shard.7');
  assert.equal(await kv.get('shard.7'), null);
  await assert.rejects(kv.put('bad key', enc('x')), { code: 'SW_ERR_INVALID_ARGUMENT' });
  await assert.rejects(kv.get('a..b'), { code: 'SW_ERR_INVALID_ARGUMENT' });
});

test('keys and entries by prefix, live keys only', async () => {
  const kv = await t.kv('members');
  await kv.put('node.1', enc('a'));
  await kv.put('node.10', enc('b'));
  await kv.put('node.2', enc('c'));
  await kv.put('other', enc('d'));
  await kv.put('node.gone', enc('e'));
  await kv.delete('node.gone');
  assert.deepEqual(await kv.keys(), ['node.1', 'node.10', 'node.2', 'other']);
  assert.deepEqual(await kv.keys('node.'), ['node.1', 'node.10', 'node.2']);
  assert.deepEqual(await kv.keys('node.1'), ['node.1', 'node.10']);
  const entries = await kv.entries('node.');
  assert.deepEqual(
    entries.map((e) => [e.key, dec(e.value)]).sort(),
    [
      ['node.1', 'a'],
      ['node.10', 'b'],
      ['node.2', 'c'],
    ],
  );
  assert.deepEqual(await (await t.kv('shards')).keys(), []);
});

test('watch sees only later changes, deletes as null, filtered by prefix', async () => {
  const kv = await t.kv('shards');
  await kv.put('map.before', enc('old'));
  const changes: KvChange[] = [];
  const sub = await kv.watch((c) => changes.push(c), 'map.');
  await kv.put('map.a', enc('1'));
  await kv.put('unrelated', enc('x'));
  const r = await kv.put('map.a', enc('2'));
  await kv.delete('map.a');
  await waitFor('three changes', 5000, () => changes.length >= 3);
  await new Promise((res) => setTimeout(res, 200));
  sub.unsubscribe();
  assert.deepEqual(
    changes.map((c) => [c.key, c.value === null ? null : dec(c.value)]),
    [
      ['map.a', '1'],
      ['map.a', '2'],
      ['map.a', null],
    ],
  );
  assert.equal(changes[1]!.revision, r);
  assert.ok(changes[0]!.revision < changes[1]!.revision && changes[1]!.revision < changes[2]!.revision);
  await kv.put('map.after-unsubscribe', enc('z'));
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(changes.length, 3);
});

/** Our KV feed consumers on the bucket's stream, by name (an independent look through the JetStream API). */
async function feedConsumers(bucket: string): Promise<string[]> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const ci of jsm.consumers.list(`KV_${bucket}`)) names.push(ci.name);
    return names;
  } finally {
    await nc.close();
  }
}

test('a watch whose consumer is deleted on the server resumes where it was: later changes arrive once, in order, nothing replayed', async () => {
  const kv = await t.kv('shards');
  await kv.put('gone.before', enc('old'));
  const changes: KvChange[] = [];
  const sub = await kv.watch((c) => changes.push(c), 'gone.');
  try {
    const r1 = await kv.put('gone.a', enc('1'));
    await waitFor('the first change', 5000, () => changes.length === 1);
    const consumers = await feedConsumers(n.buckets.shards);
    assert.ok(consumers.length >= 1, 'the watch has a consumer on the server');
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      for (const name of consumers) await jsm.consumers.delete(`KV_${n.buckets.shards}`, name);
    } finally {
      await nc.close();
    }
    // Written while the watch has no consumer: must still be seen once re-created.
    const r2 = await kv.put('gone.b', enc('2'));
    const r3 = await kv.put('gone.a', enc('3'));
    await waitFor('the changes after the deletion', 15_000, () => changes.length >= 3);
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(
      changes.map((c) => [c.key, dec(c.value!), c.revision]),
      [
        ['gone.a', '1', r1],
        ['gone.b', '2', r2],
        ['gone.a', '3', r3],
      ],
    );
  } finally {
    sub.unsubscribe();
  }
  await waitFor('the feed consumer removed after unsubscribe', 5000, async () => (await feedConsumers(n.buckets.shards)).length === 0);
});

test('a watch opened while a writer is busy sees every later revision exactly once (no gap, no repeat)', async () => {
  const kv = await t.kv('leases');
  let writing = true;
  const written: number[] = [];
  const writer = (async () => {
    for (let i = 0; writing; i++) written.push(await kv.put(`busy.${i % 7}`, enc(String(i))));
  })();
  await waitFor('the writer running', 5000, () => written.length >= 20);
  const seen: number[] = [];
  const sub = await kv.watch((c) => seen.push(c.revision), 'busy.');
  const afterCall = written.length;
  await waitFor('more writes after the watch', 5000, () => written.length >= afterCall + 100);
  writing = false;
  await writer;
  const last = written[written.length - 1]!;
  await waitFor('the last write seen', 5000, () => seen.includes(last));
  sub.unsubscribe();
  // Oracle: the writer is the bucket's only writer under this prefix, so from
  // the first revision written after watch() returned, every one must be seen.
  const mustSee = written.slice(afterCall);
  const seenSet = new Set(seen);
  assert.deepEqual(mustSee.filter((r) => !seenSet.has(r)), [], 'no revision written after the call is missing');
  assert.equal(seenSet.size, seen.length, 'no revision delivered twice');
  assert.deepEqual([...seen].sort((a, b) => a - b), seen, 'revisions in order');
});

test('keys and entries while a writer churns: every live key once, deleted keys absent', async () => {
  const kv = await t.kv('members');
  const live = new Set<string>();
  for (let i = 0; i < 150; i++) {
    await kv.put(`churn.${i}`, enc(`v${i}`));
    live.add(`churn.${i}`);
  }
  for (let i = 0; i < 150; i += 3) {
    await kv.delete(`churn.${i}`);
    live.delete(`churn.${i}`);
  }
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) await kv.put(`churn.${1 + 3 * (i % 40)}`, enc(`w${i}`));
  })();
  try {
    for (let round = 0; round < 5; round++) {
      const keys = await kv.keys('churn.');
      assert.deepEqual(keys, [...live].sort(), `round ${round}: keys`);
      const entries = await kv.entries('churn.');
      assert.deepEqual(entries.map((e) => e.key).sort(), [...live].sort(), `round ${round}: entries`);
      for (const e of entries) assert.ok(/^[vw]\d+$/.test(dec(e.value)), `value of ${e.key}`);
    }
  } finally {
    writing = false;
    await writer;
  }
  await waitFor('listings leave no consumer behind', 5000, async () => (await feedConsumers(n.buckets.members)).length === 0);
});

test('core pub/sub with wildcards, flush, and unsubscribe', async () => {
  const got: BusMessage[] = [];
  const sub = t.subscribe(n.subjects.trackerStateAll, (m) => got.push(m));
  const all: BusMessage[] = [];
  const subAll = t.subscribe(`${n.namespace}.>`, (m) => all.push(m));
  await t.flush();
  t.publish(n.subjects.trackerState(3), enc('s3'));
  t.publish(n.subjects.trackerState(11), enc('s11'));
  t.publish(n.subjects.alerts, enc('alert'));
  await t.flush();
  await waitFor('messages', 3000, () => got.length === 2 && all.length === 3);
  assert.deepEqual(
    got.map((m) => [m.subject, dec(m.data)]),
    [
      [n.subjects.trackerState(3), 's3'],
      [n.subjects.trackerState(11), 's11'],
    ],
  );
  sub.unsubscribe();
  subAll.unsubscribe();
  t.publish(n.subjects.trackerState(4), enc('late'));
  await t.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 2);
  assert.throws(() => t.publish('', enc('x')), { code: 'SW_ERR_INVALID_ARGUMENT' });
});

test('close is idempotent and later calls fail with SW_ERR_CLOSED', async () => {
  const n2 = freshNames();
  const t2 = await connectNats({ servers: NATS_URL, names: n2, topology: fastTopology() });
  await Promise.all([t2.close(), t2.close()]);
  await t2.close();
  assert.throws(() => t2.publish('x', enc('y')), { code: 'SW_ERR_CLOSED' });
  await assert.rejects(t2.enqueue('high', 'a', enc('b')), { code: 'SW_ERR_CLOSED' });
});
