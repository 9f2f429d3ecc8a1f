/**
 * ReplyMux, the request/reply behind enqueue's publish ack and the double
 * ack, against the real server: replies are matched to their request even
 * when answered out of order, a silent responder ends in a (transient)
 * timeout, no responders is reported as such, and close() fails what waits.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { ReplyMux } from '../../actors/runtime/transport/nats-reply.js';
import { isTransient } from '../../actors/runtime/transport/nats-errors.js';
import { NATS_URL } from './nats-fixtures.js';

const conns: NatsConnection[] = [];
after(async () => {
  await Promise.all(conns.map((c) => c.close()));
});

async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  conns.push(nc);
  return nc;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('replies reach their own request, in any order, with headers passed through', async () => {
  const nc = await conn();
  const subject = `t${randomBytes(6).toString('hex')}.echo`;
  const held: Array<{ respond(d: Uint8Array): boolean; data: Uint8Array; headers?: { get(k: string): string } }> = [];
  nc.subscribe(subject, {
    callback: (_e, m) => {
      held.push(m);
      // Answer in reverse order once all five are in.
      if (held.length === 5) for (const r of held.reverse()) r.respond(enc(`re:${dec(r.data)}:${r.headers?.get('X-Id') ?? ''}`));
    },
  });
  await nc.flush();
  const mux = new ReplyMux(nc);
  const replies = await Promise.all(
    [0, 1, 2, 3, 4].map((i) => {
      const h = headers();
      h.set('X-Id', `id${i}`);
      return mux.request(subject, enc(`m${i}`), 5000, h);
    }),
  );
  assert.deepEqual(
    replies.map((r) => dec(r.data)),
    [0, 1, 2, 3, 4].map((i) => `re:m${i}:id${i}`),
  );
  mux.close(new Error('done'));
});

test('a responder that never answers ends in a transient timeout, bounded', async () => {
  const nc = await conn();
  const subject = `t${randomBytes(6).toString('hex')}.silent`;
  nc.subscribe(subject, { callback: () => undefined });
  await nc.flush();
  const mux = new ReplyMux(nc);
  const started = Date.now();
  const err = await mux.request(subject, enc('x'), 300, undefined).then(
    () => null,
    (e: Error) => e,
  );
  const took = Date.now() - started;
  assert.ok(err, 'rejected');
  assert.equal(err.name, 'TimeoutError');
  assert.ok(isTransient(err), 'a timeout is worth a retry');
  assert.ok(took >= 290 && took < 5000, `timed out after ${took} ms`);
  mux.close(new Error('done'));
});

test('no responders is reported as such (transient), not as a reply', async () => {
  const nc = await conn();
  const mux = new ReplyMux(nc);
  const err = await mux.request(`t${randomBytes(6).toString('hex')}.nobody`, enc('x'), 5000).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err, 'rejected');
  assert.match(err.message, /no responders/);
  assert.ok(isTransient(err));
  mux.close(new Error('done'));
});

test('close() fails pending requests with the given error', async () => {
  const nc = await conn();
  const subject = `t${randomBytes(6).toString('hex')}.silent`;
  nc.subscribe(subject, { callback: () => undefined });
  await nc.flush();
  const mux = new ReplyMux(nc);
  const p = mux.request(subject, enc('x'), 60_000);
  await nc.flush();
  mux.close(new Error('closing now'));
  await assert.rejects(p, /closing now/);
});
