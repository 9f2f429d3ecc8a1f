/**
 * The transport contract against the in-process bus, plus what only the
 * embedded bus can be asked directly (it has no server to inspect).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { names } from '../../protocol/names.js';
import { runTransportContract } from './transport.contract.js';

runTransportContract('embedded', async (topology) => {
  const n = names(`t${Math.random().toString(36).slice(2, 10)}`);
  const transport = new EmbeddedTransport({ names: n, topology });
  return { transport, names: n, cleanup: () => transport.close() };
});

test('embedded: handlers never run inside enqueue()', async () => {
  const t = new EmbeddedTransport({ topology: { ackWaitMs: 1000 } });
  try {
    let inside = false;
    let ranInside = false;
    let ran = 0;
    await t.consume('high', { prefetch: 10 }, async (m) => {
      if (inside) ranInside = true;
      ran++;
      await m.ack();
    });
    await sleep(10);
    inside = true;
    const p = t.enqueue('high', 'sync-1', new Uint8Array([1]));
    inside = false;
    await p;
    await t.flush();
    for (let i = 0; i < 50 && ran === 0; i++) await sleep(10);
    assert.equal(ran, 1);
    assert.equal(ranInside, false);
  } finally {
    await t.close();
  }
});

test('embedded: bad input is rejected with a reason, not a crash', async () => {
  const t = new EmbeddedTransport();
  try {
    assert.throws(() => t.publish('a..b', new Uint8Array()), { code: 'SW_ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.publish('a.*', new Uint8Array()), { code: 'SW_ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.subscribe('a.>.b', () => {}), { code: 'SW_ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.publish('a.b', 'text' as unknown as Uint8Array), { code: 'SW_ERR_INVALID_ARGUMENT' });
    await assert.rejects(t.enqueue('nope' as 'high', 'x', new Uint8Array()), { code: 'SW_ERR_INVALID_ARGUMENT' });
    await assert.rejects(t.enqueue('high', '', new Uint8Array()), { code: 'SW_ERR_INVALID_ARGUMENT' });
    await assert.rejects(t.enqueue('high', 'big', new Uint8Array(2 * 1024 * 1024)), { code: 'SW_ERR_INVALID_ARGUMENT' });
    await assert.rejects(t.consume('high', { prefetch: 0 }, async () => {}), { code: 'SW_ERR_INVALID_ARGUMENT' });
    const kv = await t.kv('leases');
    await assert.rejects(kv.put('bad key', new Uint8Array()), { code: 'SW_ERR_INVALID_ARGUMENT' });
    await assert.rejects(kv.update('k', new Uint8Array(), -1), { code: 'SW_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new EmbeddedTransport({ topology: { ackWaitMs: 0 } }), { code: 'SW_ERR_INVALID_ARGUMENT' });
    // A subscriber that throws is counted; the others still get the message.
    let other = 0;
    t.subscribe('x.y', () => {
      throw new Error('subscriber bug');
    });
    t.subscribe('x.y', () => other++);
    t.publish('x.y', new Uint8Array([1]));
    await t.flush();
    assert.equal(other, 1);
    assert.equal(t.errorCount, 1);
  } finally {
    await t.close();
  }
});

test('embedded: a handler that throws without settling is retried at once, then dead-lettered', async () => {
  const t = new EmbeddedTransport({ topology: { ackWaitMs: 60_000, maxDeliver: 3 } });
  try {
    let calls = 0;
    await t.consume('weather', { prefetch: 1 }, async () => {
      calls++;
      throw new Error('handler bug');
    });
    await t.enqueue('weather', 'throws-1', new Uint8Array([0xff]));
    for (let i = 0; i < 200 && (await t.deadLetterCount()) === 0; i++) await sleep(10);
    assert.equal(calls, 3);
    const [dl] = await t.deadLetters();
    assert.equal(dl!.code, 'SW_ERR_HANDLER');
    assert.equal(dl!.taskId, 'throws-1', 'not JSON: the msgId stands in for the task id');
    assert.equal(dl!.kind, null);
    assert.equal(dl!.original, Buffer.from([0xff]).toString('base64'));
    assert.equal((await t.queueStats('weather')).depth, 0);
  } finally {
    await t.close();
  }
});

test('embedded: dead letters are bounded and an invalid code is kept in the reason', async () => {
  const t = new EmbeddedTransport({ maxDeadLetters: 2 });
  try {
    await t.consume('high', { prefetch: 10 }, async (m) => {
      await m.deadLetter(m.msgId === 'd-3' ? 'not-a-code' : 'SW_ERR_SCHEMA', 'bad');
    });
    for (const id of ['d-1', 'd-2', 'd-3']) await t.enqueue('high', id, new Uint8Array([1]));
    for (let i = 0; i < 100 && (await t.queueStats('high')).depth > 0; i++) await sleep(10);
    const dls = await t.deadLetters();
    assert.deepEqual(dls.map((d) => d.taskId), ['d-2', 'd-3'], 'oldest dropped');
    assert.equal((await t.deadLetters(1))[0]!.taskId, 'd-2');
    assert.equal(dls[1]!.code, 'SW_ERR_HANDLER');
    assert.equal(dls[1]!.reason, '[not-a-code] bad');
  } finally {
    await t.close();
  }
});

test("embedded: onStatus reports 'connected' once per listener", async () => {
  const t = new EmbeddedTransport();
  try {
    const statuses: string[] = [];
    const sub = t.onStatus((s) => statuses.push(s.type));
    for (let i = 0; i < 50 && statuses.length === 0; i++) await sleep(10);
    await sleep(50);
    assert.deepEqual(statuses, ['connected']);
    sub.unsubscribe();
  } finally {
    await t.close();
  }
});

test('embedded: a msgId is forgotten after the de-dup window, not before', async () => {
  const windowMs = 300;
  const t = new EmbeddedTransport({ topology: { dedupeWindowMs: windowMs } });
  try {
    const first = await t.enqueue('high', 'win-1', new Uint8Array([1]));
    await sleep(windowMs / 2);
    assert.equal((await t.enqueue('high', 'win-1', new Uint8Array([1]))).duplicate, true, 'inside the window');
    // Remembered for at least one window and at most two.
    await sleep(windowMs * 2 + 100);
    const again = await t.enqueue('high', 'win-1', new Uint8Array([1]));
    assert.equal(again.duplicate, false, 'after two windows the id is new again');
    assert.ok(again.seq > first.seq);
  } finally {
    await t.close();
  }
});
