/**
 * The thread bridge beyond the transport contract (test/contract/thread.test.ts):
 * what a client thread holds is released when it dies, a malformed frame is
 * answered and does not stop the server, errors cross as their classes, a
 * rejecting client handler is treated as the bus treats its own, and frames
 * travel in batches, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { serveTransport } from '../../actors/runtime/transport/thread-bridge.js';
import { ThreadTransport } from '../../actors/runtime/transport/thread-client.js';
import { fromBridgeError, toBridgeError } from '../../actors/runtime/transport/thread-wire.js';
import {
  CasConflictError,
  ClosedError,
  ConfigError,
  FencedError,
  MailboxFullError,
  ProtocolError,
  ProvisionError,
  StarWeatherError,
} from '../../protocol/errors.js';
import { checkBridgeEvent, type BridgeReply } from '../../protocol/messages/thread-bridge.js';
import { names, type Names } from '../../protocol/names.js';
import type { TransportStatus, WorkMessage } from '../../protocol/transport.js';
import { waitFor } from '../contract/transport.contract.js';
import { startBusThread } from '../fixtures/thread-bus.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function freshNames(): Names {
  return names(`tb${Math.random().toString(36).slice(2, 10)}`);
}

/** A bus in this thread and one client over an in-thread channel (both ends real ports). */
function localPair(bus: EmbeddedTransport, onError?: (err: unknown, context: string) => void) {
  const { port1, port2 } = new MessageChannel();
  const server = serveTransport(bus, port1, onError ? { onError } : {});
  const client = new ThreadTransport(port2);
  return { server, client, serverPort: port1, clientPort: port2 };
}

test('a client thread terminated while holding a message: redelivered at once elsewhere, and nothing of it is left on the server', { timeout: 30_000 }, async () => {
  const n = freshNames();
  // AckWait far beyond the test: only the release can bring the task back in time.
  const bus = new EmbeddedTransport({ names: n, topology: { ackWaitMs: 30_000 } });
  const errors: string[] = [];
  const { port1, port2 } = new MessageChannel();
  const serverA = serveTransport(bus, port1, { onError: (err, ctx) => errors.push(`${ctx}: ${String(err)}`) });
  const holder = new Worker(new URL('../fixtures/thread-bridge-holder.js', import.meta.url), {
    workerData: { port: port2, namespace: n.namespace, queue: 'high' },
    transferList: [port2],
  });
  const fromHolder: Array<{ ready?: boolean; got?: string; deliveryCount?: number }> = [];
  holder.on('message', (m) => fromHolder.push(m));
  let clientB: ThreadTransport | null = null;
  try {
    await waitFor(() => fromHolder.some((m) => m.ready), 10_000, 'the holder thread to consume');
    await bus.enqueue('high', 'held-1', enc.encode('held'));
    await waitFor(() => fromHolder.some((m) => m.got === 'held-1'), 5000, 'the holder to take the task');
    assert.deepEqual(serverA.stats, { subscriptions: 1, watches: 1, consumers: 1, inFlight: 1 });
    assert.deepEqual(await bus.queueStats('high'), { depth: 1, inFlight: 1 });

    // Another client, on another port, waiting for work.
    const pairB = localPair(bus);
    clientB = pairB.client;
    const gotB: Array<{ msgId: string; deliveryCount: number; at: number; data: string }> = [];
    await clientB.consume('high', { prefetch: 1 }, async (m) => {
      gotB.push({ msgId: m.msgId, deliveryCount: m.deliveryCount, at: Date.now(), data: dec.decode(m.data) });
      await m.ack();
    });

    const killedAt = Date.now();
    await holder.terminate();
    await waitFor(() => gotB.length >= 1, 5000, 'the redelivery to the other client');
    const took = gotB[0]!.at - killedAt;
    assert.deepEqual(
      gotB.map(({ msgId, deliveryCount, data }) => ({ msgId, deliveryCount, data })),
      [{ msgId: 'held-1', deliveryCount: 2, data: 'held' }],
    );
    assert.ok(took < 3000, `redelivered ${took} ms after the thread died (AckWait is 30 s)`);
    await waitFor(
      () => JSON.stringify(serverA.stats) === JSON.stringify({ subscriptions: 0, watches: 0, consumers: 0, inFlight: 0 }),
      5000,
      "the dead client's holdings to be released",
    );
    await waitFor(async () => (await bus.queueStats('high')).depth === 0, 5000, 'the ack from the other client');
    assert.deepEqual(errors, []);
  } finally {
    await holder.terminate();
    await clientB?.close();
    await bus.close();
  }
});

test('a malformed request is answered with an error (or reported when it has no id), and the server keeps serving', async () => {
  const bus = new EmbeddedTransport({ names: freshNames() });
  const { port1, port2 } = new MessageChannel();
  const reported: Array<{ context: string; err: unknown }> = [];
  const server = serveTransport(bus, port1, { onError: (err, context) => reported.push({ context, err }) });
  const replies = new Map<number, BridgeReply>();
  port2.on('message', (batch: unknown[]) => {
    for (const f of batch) {
      const c = checkBridgeEvent(f);
      assert.ok(c.ok, `the server sent a frame that fails its schema: ${JSON.stringify(f)}`);
      if (c.frame.t === 'reply') replies.set(c.frame.id, c.frame);
    }
  });
  const reply = async (id: number): Promise<BridgeReply> => {
    await waitFor(() => replies.has(id), 5000, `reply ${id}`);
    return replies.get(id)!;
  };
  const errorOf = async (id: number) => {
    const r = await reply(id);
    assert.equal(r.ok, false, `reply ${id} should be an error`);
    return (r as Extract<BridgeReply, { ok: false }>).error;
  };
  try {
    port2.postMessage([{ t: 'enqueue', id: 1, queue: 'high' }]);
    const e1 = await errorOf(1);
    assert.equal(e1.code, 'SW_ERR_SCHEMA');
    assert.equal(e1.name, 'ProtocolError');
    assert.match(e1.message, /enqueue/);

    port2.postMessage([{ t: 'teleport', id: 2 }]);
    assert.equal((await errorOf(2)).code, 'SW_ERR_UNKNOWN_MESSAGE');

    // No id: nothing to answer, so it is reported.
    port2.postMessage('garbage');
    port2.postMessage([{ t: 'publish', subject: 7, data: 'not bytes' }]);
    await waitFor(() => reported.length >= 2, 5000, 'two reports');
    assert.ok(reported.every((r) => r.err instanceof ProtocolError && r.context.includes('malformed')), JSON.stringify(reported.map((r) => r.context)));

    // Well-formed, but the transport refuses the value: the transport's own error.
    port2.postMessage([{ t: 'enqueue', id: 3, queue: 'nope', msgId: 'x', data: new Uint8Array([1]) }]);
    const direct = await bus.enqueue('nope' as 'high', 'x', new Uint8Array([1])).then(
      () => assert.fail('the bus accepted an unknown queue'),
      (err: StarWeatherError) => err,
    );
    const e3 = await errorOf(3);
    assert.equal(e3.code, 'SW_ERR_INVALID_ARGUMENT');
    assert.equal(e3.message, direct.message);

    // A bad frame in a batch does not take the good ones with it, and the server still serves.
    port2.postMessage([{ t: 'kv-get', id: 4 }, { t: 'queue-stats', id: 5, queue: 'high' }, null]);
    assert.equal((await errorOf(4)).code, 'SW_ERR_SCHEMA');
    const r5 = await reply(5);
    assert.deepEqual(r5, { t: 'reply', id: 5, ok: true, value: { depth: 0, inFlight: 0 } });
    await waitFor(() => reported.length >= 3, 5000, 'the null frame reported');
    assert.deepEqual(server.stats, { subscriptions: 0, watches: 0, consumers: 0, inFlight: 0 });
  } finally {
    await server.close();
    port2.close();
    await bus.close();
  }
});

test('errors from the bus thread arrive as their own classes, with code and message', { timeout: 30_000 }, async () => {
  const n = freshNames();
  const busThread = await startBusThread(n.namespace);
  const t = new ThreadTransport(busThread.port);
  const inline = new EmbeddedTransport({ names: freshNames() });
  try {
    const kv = await t.kv('leases');
    const r1 = await kv.create('lease.a', enc.encode('1'));
    const conflict = await kv.create('lease.a', enc.encode('2')).then(
      () => assert.fail('a second create succeeded'),
      (err: unknown) => err,
    );
    assert.ok(conflict instanceof CasConflictError, `got ${String(conflict)}`);
    assert.equal(conflict.code, 'SW_ERR_CAS_CONFLICT');
    assert.equal(conflict.name, 'CasConflictError');
    assert.equal(conflict.message, new CasConflictError('lease.a').message);
    assert.ok(conflict.stack?.startsWith(`CasConflictError: ${conflict.message}`));
    await assert.rejects(kv.update('lease.a', enc.encode('3'), r1 + 100), CasConflictError);
    await assert.rejects(kv.delete('lease.a', r1 + 100), CasConflictError);

    // The transport's own messages for bad values, as in-thread.
    const inlineKv = await inline.kv('leases');
    const inlineBadKey = await inlineKv.put('bad key', enc.encode('x')).catch((err: StarWeatherError) => err);
    await assert.rejects(kv.put('bad key', enc.encode('x')), (err: unknown) => err instanceof StarWeatherError && err.code === 'SW_ERR_INVALID_ARGUMENT' && err.message === (inlineBadKey as Error).message);
    const inlinePrefetch = await inline.consume('high', { prefetch: 0 }, async () => {}).catch((err: StarWeatherError) => err);
    await assert.rejects(t.consume('high', { prefetch: 0 }, async () => {}), { code: 'SW_ERR_INVALID_ARGUMENT', message: (inlinePrefetch as Error).message });
    await assert.rejects(t.kv('nope' as 'leases'), { code: 'SW_ERR_INVALID_ARGUMENT', message: await inline.kv('nope' as 'leases').catch((e: Error) => e.message) });
    // Subject syntax is checked before anything is queued: a throw, as in-thread.
    assert.throws(() => t.publish('a..b', new Uint8Array()), { code: 'SW_ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.subscribe('a.>.b', () => {}), { code: 'SW_ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.publish('a.b', 'text' as unknown as Uint8Array), { code: 'SW_ERR_INVALID_ARGUMENT' });
  } finally {
    await t.close();
    await busThread.terminate();
    await inline.close();
  }
});

test('every error class of protocol/errors.ts survives the crossing; unknown errors become Error with the message', () => {
  const cases: Error[] = [
    new StarWeatherError('SW_ERR_TIMEOUT', 'took too long'),
    new ProtocolError('SW_ERR_SCHEMA', 'work.task v1: /id: bad', '/id'),
    new ConfigError('nats.url', 'not a URL'),
    new ProvisionError('stream X differs'),
    new CasConflictError('shard.7'),
    new FencedError('token 3 is older than 5'),
    new MailboxFullError('tracker/42'),
    new ClosedError('embedded transport'),
  ];
  for (const original of cases) {
    // Through structuredClone, as through the port.
    const back = fromBridgeError(structuredClone(toBridgeError(original)));
    assert.equal(back.constructor, original.constructor, original.name);
    assert.equal(back.name, original.name);
    assert.equal(back.message, original.message);
    assert.equal((back as StarWeatherError).code, (original as StarWeatherError).code);
  }
  const path = fromBridgeError(toBridgeError(cases[1]!)) as ProtocolError;
  assert.equal(path.path, '/id');
  assert.equal((fromBridgeError(toBridgeError(cases[2]!)) as ConfigError).key, 'nats.url');

  // A StarWeather code under a class this side does not know keeps code and name.
  const storage = Object.assign(new StarWeatherError('SW_ERR_STORAGE', 'disk full'), { name: 'StorageError' });
  const s = fromBridgeError(toBridgeError(storage));
  assert.ok(s instanceof StarWeatherError);
  assert.equal(s.code, 'SW_ERR_STORAGE');
  assert.equal(s.name, 'StorageError');

  const plain = fromBridgeError(toBridgeError(new TypeError('x is not a function')));
  assert.equal(plain.constructor, Error);
  assert.equal(plain.message, 'x is not a function');
  const thrownString = fromBridgeError(toBridgeError('just a string'));
  assert.equal(thrownString.constructor, Error);
  assert.equal(thrownString.message, 'just a string');
});

test('a client handler that rejects without settling: nak\'d at once, then dead-lettered, as the bus treats its own handlers', { timeout: 30_000 }, async () => {
  const n = freshNames();
  const busThread = await startBusThread(n.namespace, { ackWaitMs: 60_000, maxDeliver: 3 });
  const t = new ThreadTransport(busThread.port);
  try {
    const statuses: TransportStatus[] = [];
    t.onStatus((s) => statuses.push(s));
    let calls = 0;
    const started = Date.now();
    await t.consume('weather', { prefetch: 1 }, async () => {
      calls++;
      throw new Error('handler bug');
    });
    await t.enqueue('weather', 'throws-1', new Uint8Array([0xff]));
    await waitFor(async () => (await t.deadLetterCount()) === 1, 10_000, 'the dead letter');
    assert.ok(Date.now() - started < 10_000, 'never waited for AckWait (60 s)');
    assert.equal(calls, 3);
    const [dl] = await t.deadLetters();
    assert.equal(dl!.code, 'SW_ERR_HANDLER');
    assert.equal(dl!.taskId, 'throws-1');
    assert.equal((await t.queueStats('weather')).depth, 0);
    // The bus reported each rejection, as it does in-thread, and the listener here heard it.
    await waitFor(() => statuses.filter((s) => s.type === 'error' && s.error === 'handler bug').length === 3, 5000, 'three error statuses');
    assert.deepEqual(statuses[0], { type: 'connected' });
  } finally {
    await t.close();
    await busThread.terminate();
  }
});

test('publishes and deliveries of one turn travel in a few posts, in order per subject; the caller may reuse its buffer', { timeout: 30_000 }, async () => {
  const n = freshNames();
  const bus = new EmbeddedTransport({ names: n });
  const { port1, port2 } = new MessageChannel();
  const posts = { server: 0, client: 0 };
  // Count the real posts on each end (the ports themselves are untouched).
  const count = (port: MessagePort, side: 'server' | 'client'): void => {
    const post = port.postMessage.bind(port);
    port.postMessage = (value: unknown, transfer?: readonly TransferListItem[]) => {
      posts[side]++;
      post(value, transfer);
    };
  };
  count(port1, 'server');
  count(port2, 'client');
  const server = serveTransport(bus, port1);
  const t = new ThreadTransport(port2);
  try {
    const SHARDS = 256;
    const PER_SHARD = 20;
    const got = new Map<string, number[]>();
    let total = 0;
    t.subscribe(`${n.namespace}.state.*`, (m) => {
      const seqs = got.get(m.subject) ?? [];
      seqs.push(new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength).getUint32(0));
      got.set(m.subject, seqs);
      total++;
    });
    await t.flush();
    posts.server = 0;
    posts.client = 0;
    const scratch = new Uint8Array(64);
    const view = new DataView(scratch.buffer);
    for (let i = 0; i < PER_SHARD; i++) {
      for (let s = 0; s < SHARDS; s++) {
        view.setUint32(0, i);
        t.publish(`${n.namespace}.state.${s}`, scratch);
        // Reused at once, as an encoder's scratch buffer would be.
        view.setUint32(0, 0xdeadbeef);
      }
    }
    await t.flush();
    const N = SHARDS * PER_SHARD;
    await waitFor(() => total === N, 10_000, `${N} deliveries`);
    for (const [subject, seqs] of got) assert.deepEqual(seqs, Array.from({ length: PER_SHARD }, (_, i) => i), subject);
    assert.equal(got.size, SHARDS);
    // 5120 publishes and a flush from the client; 5120 deliveries and a reply back.
    assert.ok(posts.client <= Math.ceil(N / 1024) + 2, `${posts.client} posts from the client`);
    assert.ok(posts.server <= Math.ceil(N / 1024) + 4, `${posts.server} posts from the server`);
  } finally {
    await t.close();
    await server.close();
    await bus.close();
  }
});

test('close() releases what the client held at once (an unsettled message is nak\'d) and leaves the bus open', { timeout: 30_000 }, async () => {
  const n = freshNames();
  const bus = new EmbeddedTransport({ names: n, topology: { ackWaitMs: 30_000 } });
  const { server, client } = localPair(bus);
  try {
    client.subscribe(`${n.namespace}.x.>`, () => {});
    await (await client.kv('shards')).watch(() => {});
    let dropped: WorkMessage | null = null;
    await client.consume('satellite', { prefetch: 2 }, async (m) => {
      dropped = m; // returns without settling
    });
    await bus.enqueue('satellite', 'dropped-1', enc.encode('d'));
    await waitFor(() => dropped !== null, 5000, 'the delivery');
    await waitFor(() => server.stats.inFlight === 1, 5000, 'the server to count it in flight');
    assert.deepEqual(server.stats, { subscriptions: 1, watches: 1, consumers: 1, inFlight: 1 });

    const closedAt = Date.now();
    await client.close();
    assert.deepEqual(server.stats, { subscriptions: 0, watches: 0, consumers: 0, inFlight: 0 });
    const again: WorkMessage[] = [];
    const c = await bus.consume('satellite', { prefetch: 1 }, async (m) => {
      again.push(m);
      await m.ack();
    });
    await waitFor(() => again.length === 1, 3000, 'the redelivery');
    assert.equal(again[0]!.deliveryCount, 2);
    assert.ok(Date.now() - closedAt < 3000, 'long before AckWait');
    await c.stop();
    // The bus is the server's: still open.
    await bus.provision();
    await assert.rejects(client.enqueue('high', 'late', new Uint8Array([1])), { code: 'SW_ERR_CLOSED' });
  } finally {
    await client.close();
    await server.close();
    await bus.close();
  }
});

test('a message the client dropped unsettled is forgotten by the server once collected, and left to AckWait', { timeout: 30_000 }, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const n = freshNames();
  const bus = new EmbeddedTransport({ names: n, topology: { ackWaitMs: 30_000 } });
  const { server, client } = localPair(bus);
  try {
    let seen = 0;
    await client.consume('high', { prefetch: 1 }, async () => {
      seen++; // returns without settling and keeps nothing
    });
    await bus.enqueue('high', 'dropped-2', enc.encode('x'));
    await waitFor(() => seen === 1 && server.stats.inFlight === 1, 5000, 'the delivery');
    for (let i = 0; i < 100 && server.stats.inFlight > 0; i++) {
      gc();
      await sleep(10);
    }
    assert.equal(server.stats.inFlight, 0, 'forgotten once nothing can settle it');
    // Not nak'd: the bus still has it in flight until AckWait, as for any dropped message.
    assert.deepEqual(await bus.queueStats('high'), { depth: 1, inFlight: 1 });
    assert.equal(seen, 1);
  } finally {
    await client.close();
    await server.close();
    await bus.close();
  }
});

test('when the server side goes away, pending calls fail with SW_ERR_CLOSED and listeners hear disconnected', async () => {
  const bus = new EmbeddedTransport({ names: freshNames() });
  const { port1, port2 } = new MessageChannel();
  // A server that never answers: only its port's close can end the call.
  port1.on('message', () => {});
  const t = new ThreadTransport(port2);
  try {
    const statuses: string[] = [];
    t.onStatus((s) => statuses.push(s.type));
    const pending = t.queueStats('high');
    await sleep(20);
    port1.close();
    await assert.rejects(pending, (err: unknown) => err instanceof ClosedError && /port closed before the answer to queue-stats/.test(err.message));
    await waitFor(() => statuses.includes('disconnected'), 2000, 'the disconnected status');
    assert.throws(() => t.publish('a.b', new Uint8Array()), { code: 'SW_ERR_CLOSED' });
    await t.close();
  } finally {
    await bus.close();
  }
});
