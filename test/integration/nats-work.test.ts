/**
 * Work queues on the NATS transport against the shared test server:
 * de-duplicated enqueue, the prefetch bound, ack/nak, dead-lettering by the
 * runtime, and the MAX_DELIVERIES advisory path for tasks nobody settled.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, type NatsTransport } from '../../actors/runtime/transport/nats.js';
import type { Names } from '../../protocol/names.js';
import type { TopologySettings } from '../../protocol/topology.js';
import type { WorkMessage } from '../../protocol/transport.js';
import { NATS_URL, dec, deleteNamespace, enc, fastTopology, freshNames, waitFor } from './nats-fixtures.js';

const open: NatsTransport[] = [];
const used: Names[] = [];
after(async () => {
  await Promise.all(open.map((t) => t.close()));
  await Promise.all(used.map((n) => deleteNamespace(NATS_URL, n)));
});

async function setup(settings: TopologySettings = fastTopology(), exhaustedSweep = true): Promise<{ t: NatsTransport; n: Names; errors: unknown[] }> {
  const n = freshNames();
  used.push(n);
  const errors: unknown[] = [];
  const t = await connectNats({ servers: NATS_URL, names: n, topology: settings, exhaustedSweep, onError: (e) => errors.push(e) });
  open.push(t);
  await t.provision();
  return { t, n, errors };
}

async function workStreamMessages(n: Names, queue: 'high' | 'satellite' | 'weather'): Promise<number> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(n.streams.work(queue))).state.messages;
  } finally {
    await nc.close();
  }
}

test('enqueue is de-duplicated by msgId and reports the stream sequence', async () => {
  const { t } = await setup();
  const a = await t.enqueue('high', 'task-1', enc('{"id":"task-1"}'));
  const b = await t.enqueue('high', 'task-2', enc('{"id":"task-2"}'));
  const again = await t.enqueue('high', 'task-1', enc('{"id":"task-1"}'));
  assert.deepEqual(a, { duplicate: false, seq: 1 });
  assert.deepEqual(b, { duplicate: false, seq: 2 });
  assert.equal(again.duplicate, true);
  assert.equal(again.seq, 1);
  assert.deepEqual(await t.queueStats('high'), { depth: 2, inFlight: 0 });
  await assert.rejects(t.enqueue('high', 'bad id with spaces', enc('x')), { code: 'SW_ERR_INVALID_ARGUMENT' });
  await assert.rejects(t.enqueue('nope' as 'high', 'x', enc('x')), { code: 'SW_ERR_INVALID_ARGUMENT' });
  await assert.rejects(t.enqueue('high', 'huge', new Uint8Array(2 * 1024 * 1024)), { code: 'SW_ERR_INVALID_ARGUMENT' });
});

test('enqueue to a stream that was never provisioned fails fast, not after the retry timeout', async () => {
  const n = freshNames();
  const t = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology(), enqueueTimeoutMs: 20_000 });
  open.push(t);
  const started = Date.now();
  await assert.rejects(t.enqueue('high', 'x', enc('x')), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'SW_ERR_TRANSPORT');
    assert.match((err as Error).message, /does not exist/);
    return true;
  });
  assert.ok(Date.now() - started < 10_000, 'did not wait out the 20 s retry budget');
  await assert.rejects(t.consume('high', { prefetch: 1 }, async () => {}), { code: 'SW_ERR_TRANSPORT' });
  await assert.rejects(t.kv('leases'), { code: 'SW_ERR_NOT_FOUND' });
});

test('consume: every task delivered, acked once, queue drained; prefetch bounds handlers in flight', async () => {
  const { t } = await setup();
  const total = 40;
  for (let i = 0; i < total; i++) await t.enqueue('satellite', `s-${i}`, enc(JSON.stringify({ id: `s-${i}`, kind: 'orbit' })));
  const seen = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let maxServerInFlight = 0;
  const prefetch = 3;
  const c = await t.consume('satellite', { prefetch }, async (m) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    seen.set(m.msgId, (seen.get(m.msgId) ?? 0) + 1);
    assert.equal(m.deliveryCount, 1);
    assert.equal(m.maxDeliver, 3);
    assert.equal(m.queue, 'satellite');
    assert.equal(JSON.parse(dec(m.data)).id, m.msgId);
    const stats = await t.queueStats('satellite');
    maxServerInFlight = Math.max(maxServerInFlight, stats.inFlight);
    await new Promise((r) => setTimeout(r, 10));
    inFlight--;
    await m.ack();
  });
  await waitFor('all tasks handled', 20_000, () => seen.size === total);
  await c.stop();
  assert.equal(seen.size, total);
  assert.ok([...seen.values()].every((v) => v === 1), 'each task handled once');
  assert.ok(maxInFlight <= prefetch, `handlers in flight ${maxInFlight} <= ${prefetch}`);
  // The server never had more delivered-unacked tasks than our slots: nothing waited with its AckWait ticking.
  assert.ok(maxServerInFlight <= prefetch, `server-side in flight ${maxServerInFlight} <= ${prefetch}`);
  await waitFor('queue drained', 5000, async () => (await t.queueStats('satellite')).depth === 0);
  assert.equal(await workStreamMessages(t.names, 'satellite'), 0, 'work-queue stream removes acked tasks');
});

test('nak redelivers with a higher deliveryCount; stop() waits for in-flight handlers', async () => {
  const { t } = await setup();
  await t.enqueue('weather', 'w-1', enc('{"id":"w-1"}'));
  const counts: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let handlerDone = false;
  const c = await t.consume('weather', { prefetch: 1 }, async (m) => {
    counts.push(m.deliveryCount);
    if (m.deliveryCount === 1) {
      m.nak(100);
      return;
    }
    await gate;
    await m.ack();
    handlerDone = true;
  });
  await waitFor('redelivery', 10_000, () => counts.length === 2);
  const stopping = c.stop();
  let stopped = false;
  void stopping.then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(stopped, false, 'stop() waits for the running handler');
  release();
  await stopping;
  assert.equal(handlerDone, true);
  assert.deepEqual(counts, [1, 2]);
  assert.deepEqual(await t.queueStats('weather'), { depth: 0, inFlight: 0 });
});

test('a handler that throws gets its task back (nak), not lost', async () => {
  const { t, errors } = await setup();
  await t.enqueue('high', 'boom', enc('{"id":"boom"}'));
  const counts: number[] = [];
  const c = await t.consume('high', { prefetch: 2 }, async (m) => {
    counts.push(m.deliveryCount);
    if (m.deliveryCount === 1) throw new Error('kernel failed');
    await m.ack();
  });
  await waitFor('redelivered after a throw', 10_000, () => counts.length >= 2);
  await c.stop();
  assert.deepEqual(counts, [1, 2]);
  assert.ok(errors.some((e) => e instanceof Error && e.message === 'kernel failed'));
});

test('deadLetter: record on the DLQ with reason and parsed taskId/kind; task removed from the work stream; idempotent', async () => {
  const { t, n } = await setup();
  await t.enqueue('high', 'bad-1', enc(JSON.stringify({ id: 'bad-1', kind: 'tile.render', payload: 1 })));
  await t.enqueue('high', 'bad-2', enc('\xff not json'));
  const got: WorkMessage[] = [];
  const c = await t.consume('high', { prefetch: 2 }, async (m) => {
    got.push(m);
    await m.deadLetter('SW_ERR_SCHEMA', `payload invalid for ${m.msgId}`);
  });
  await waitFor('two dead letters', 10_000, async () => (await t.deadLetterCount()) === 2);
  await c.stop();
  const dl = await t.deadLetters();
  assert.equal(dl.length, 2);
  const byId = new Map(dl.map((d) => [d.reason, d]));
  const first = byId.get('payload invalid for bad-1')!;
  assert.equal(first.queue, 'high');
  assert.equal(first.taskId, 'bad-1');
  assert.equal(first.kind, 'tile.render');
  assert.equal(first.code, 'SW_ERR_SCHEMA');
  assert.equal(first.deliveries, 1);
  assert.equal(Buffer.from(first.original, 'base64').toString(), JSON.stringify({ id: 'bad-1', kind: 'tile.render', payload: 1 }));
  const second = byId.get('payload invalid for bad-2')!;
  assert.equal(second.taskId, null);
  assert.equal(second.kind, null);
  assert.equal(await workStreamMessages(n, 'high'), 0, 'dead-lettered tasks are gone from the work stream');
  assert.deepEqual(await t.queueStats('high'), { depth: 0, inFlight: 0 });
  assert.equal(got.length, 2);
  assert.deepEqual((await t.deadLetters(1)).length, 1);
});

test('deadLetter is idempotent per (queue, msgId): a redelivery racing the first dead-letter adds nothing', async () => {
  const { t } = await setup(fastTopology({ ackWaitMs: 500, maxDeliver: 5 }));
  await t.enqueue('satellite', 'twice', enc('{"id":"twice"}'));
  const calls: number[] = [];
  const c = await t.consume('satellite', { prefetch: 2 }, async (m) => {
    calls.push(m.deliveryCount);
    // First copy outlives its AckWait, so the task is redelivered to the
    // second slot; both copies then dead-letter it.
    if (m.deliveryCount === 1) await waitFor('second delivery', 5000, () => calls.length >= 2);
    await m.deadLetter('SW_ERR_HANDLER', `failed on delivery ${m.deliveryCount}`);
  });
  await waitFor('both copies dead-lettered', 10_000, () => calls.length >= 2);
  await c.stop();
  assert.deepEqual(calls.sort(), [1, 2]);
  assert.equal(await t.deadLetterCount(), 1);
  assert.deepEqual(await t.queueStats('satellite'), { depth: 0, inFlight: 0 });
});

test('TERM alone removes a message from a work-queue stream (the property deadLetter relies on)', async () => {
  const { t, n } = await setup();
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const { jetstream } = await import('@nats-io/jetstream');
    const js = jetstream(nc);
    await js.publish(n.subjects.work('weather'), enc('x'), { msgID: 'term-me' });
    const consumer = await js.consumers.get(n.streams.work('weather'), n.consumers.work('weather'));
    const m = await consumer.next({ expires: 2000 });
    assert.ok(m, 'message delivered');
    m.term();
    await nc.flush();
    await waitFor('stream empty after TERM', 5000, async () => (await jsm.streams.info(n.streams.work('weather'))).state.messages === 0);
  } finally {
    await nc.close();
  }
  assert.deepEqual(await t.queueStats('weather'), { depth: 0, inFlight: 0 });
});

test('max deliveries without ack: the advisory path dead-letters the task and deletes it from the work stream', async () => {
  // Sweep off: this test proves the advisory path on its own.
  const { t, n } = await setup(fastTopology({ ackWaitMs: 500, maxDeliver: 2 }), false);
  await t.enqueue('weather', 'stuck-1', enc(JSON.stringify({ id: 'stuck-1', kind: 'goes.l1b' })));
  const deliveries: number[] = [];
  // A second transport hosting the same consumer also hears the advisory;
  // the result must still be exactly one dead letter.
  const errors2: unknown[] = [];
  const t2 = await connectNats({
    servers: NATS_URL,
    names: n,
    topology: fastTopology({ ackWaitMs: 500, maxDeliver: 2 }),
    exhaustedSweep: false,
    onError: (e) => errors2.push(e),
  });
  open.push(t2);
  const c2 = await t2.consume('weather', { prefetch: 1 }, async () => {
    await new Promise((r) => setTimeout(r, 5000)); // never settles in time
  });
  const c = await t.consume('weather', { prefetch: 1 }, async (m) => {
    deliveries.push(m.deliveryCount); // never acks: a worker that dies every time
  });
  await waitFor('dead letter via advisory', 15_000, async () => (await t.deadLetterCount()) >= 1);
  await waitFor('work stream empty', 5000, async () => (await workStreamMessages(n, 'weather')) === 0);
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all([c.stop(), c2.stop()]);
  const [d] = await t.deadLetters();
  assert.equal(await t.deadLetterCount(), 1, 'exactly one dead letter although two processes saw the advisory');
  assert.equal(d!.code, 'SW_ERR_TIMEOUT');
  assert.equal(d!.reason, 'max deliveries reached without ack');
  assert.equal(d!.taskId, 'stuck-1');
  assert.equal(d!.kind, 'goes.l1b');
  assert.equal(d!.deliveries, 2);
  assert.equal((await t.queueStats('weather')).depth, 0);
});

test('queueStats and deadLetters on an empty namespace', async () => {
  const { t } = await setup();
  assert.deepEqual(await t.queueStats('high'), { depth: 0, inFlight: 0 });
  assert.deepEqual(await t.deadLetters(), []);
  assert.equal(await t.deadLetterCount(), 0);
});

test('a missed MAX_DELIVERIES advisory is caught by the sweep: the stuck task is dead-lettered once consume() starts', async () => {
  const settings = fastTopology({ ackWaitMs: 500, maxDeliver: 2 });
  const { t, n } = await setup(settings);
  await t.enqueue('weather', 'orphan-1', enc(JSON.stringify({ id: 'orphan-1', kind: 'goes.l2' })));
  // Exhaust orphan-1 with a raw client while no transport is consuming, so
  // nobody is subscribed to the advisory when the server raises it.
  const nc = await connect({ servers: NATS_URL });
  try {
    const { jetstream } = await import('@nats-io/jetstream');
    const consumer = await jetstream(nc).consumers.get(n.streams.work('weather'), n.consumers.work('weather'));
    const first = await consumer.next({ expires: 2000 });
    assert.equal(first?.info.deliveryCount, 1);
    const second = await consumer.next({ expires: 2000 }); // after AckWait
    assert.equal(second?.info.deliveryCount, 2);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await consumer.next({ expires: 1000 }), null, 'exhausted: not delivered a third time');
  } finally {
    await nc.close();
  }
  assert.equal(await workStreamMessages(n, 'weather'), 1, 'still on the work stream');
  assert.equal(await t.deadLetterCount(), 0, 'nothing heard the advisory');
  await t.enqueue('weather', 'fine-1', enc(JSON.stringify({ id: 'fine-1', kind: 'goes.l2' })));
  const handled: string[] = [];
  const c = await t.consume('weather', { prefetch: 1 }, async (m) => {
    handled.push(m.msgId);
    await m.ack();
  });
  await waitFor('sweep dead-lettered the orphan', 20_000, async () => (await t.deadLetterCount()) === 1);
  await waitFor('fine-1 handled', 10_000, () => handled.includes('fine-1'));
  await waitFor('work stream empty', 5000, async () => (await workStreamMessages(n, 'weather')) === 0);
  await c.stop();
  const [d] = await t.deadLetters();
  assert.equal(d!.taskId, 'orphan-1');
  assert.equal(d!.code, 'SW_ERR_TIMEOUT');
  assert.equal(d!.deliveries, 2);
  assert.deepEqual(handled, ['fine-1'], 'the exhausted task was not delivered again');
});
