/**
 * The per-client outbox (actors/gateway/outbox.ts) and the parked-session
 * store (actors/gateway/ws-sessions.ts): alerts and control messages go
 * ahead of a queued position frame, positions are latest-wins, one message
 * is with the socket at a time, the urgent lane is bounded; sessions are
 * bounded by TTL, count and ids held.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, type OutboxSocket } from '../../actors/gateway/outbox.js';
import { normalizeSubscription } from '../../actors/gateway/subscription.js';
import { newSessionId, SessionStore } from '../../actors/gateway/ws-sessions.js';

/** A socket that completes writes only when told to (a client that reads when we say so). */
class ManualSocket implements OutboxSocket {
  written: Array<{ data: Uint8Array; binary: boolean }> = [];
  pending: Array<() => void> = [];
  open = true;
  write(data: Uint8Array, binary: boolean, done: () => void): void {
    this.written.push({ data, binary });
    this.pending.push(done);
  }
  isOpen(): boolean {
    return this.open;
  }
  /** Complete the write in progress. */
  drain(): void {
    this.pending.shift()?.();
  }
}

const text = (s: string) => new TextEncoder().encode(s);
const frame = (n: number) => new Uint8Array([n]);
const label = (w: { data: Uint8Array; binary: boolean }) => (w.binary ? `F${w.data[0]}` : new TextDecoder().decode(w.data));

test('one message with the socket at a time; alerts queued behind it go ahead of the queued position frame', () => {
  const s = new ManualSocket();
  const o = new Outbox(s, 10);
  assert.equal(o.offerPosition(frame(1)), true);
  assert.equal(s.written.length, 1, 'written at once when idle');
  assert.equal(o.busy(), true);
  assert.equal(o.offerPosition(frame(2)), true, 'queued, nothing replaced');
  assert.equal(o.offerPosition(frame(3)), false, 'replaces the unsent frame 2: a skip');
  assert.equal(o.pushUrgent(text('alert-a')), true);
  assert.equal(o.pushUrgent(text('alert-b')), true);
  assert.equal(s.written.length, 1, 'nothing more until the socket has written');
  assert.equal(o.queuedBytes(), 1 + 7 + 7);
  s.drain();
  s.drain();
  s.drain();
  s.drain();
  assert.deepEqual(s.written.map(label), ['F1', 'alert-a', 'alert-b', 'F3']);
  assert.equal(o.busy(), false);
  assert.equal(o.written(), 1 + 7 + 7 + 1);
});

test('the urgent lane is bounded: past maxUrgent a message is refused (the caller disconnects), never dropped silently', () => {
  const s = new ManualSocket();
  const o = new Outbox(s, 3);
  o.pushUrgent(text('1')); // with the socket
  assert.equal(o.pushUrgent(text('2')), true);
  assert.equal(o.pushUrgent(text('3')), true);
  assert.equal(o.pushUrgent(text('4')), true);
  assert.equal(o.pushUrgent(text('5')), false);
  assert.equal(o.urgentLength(), 3);
  // A connection being closed takes the urgent messages out to write them before the close frame.
  o.offerPosition(frame(9));
  assert.deepEqual(o.takeUrgent().map((x) => new TextDecoder().decode(x)), ['2', '3', '4']);
  assert.equal(o.queuedBytes(), 0, 'the position frame is dropped too');
});

test('a closed socket gets nothing more', () => {
  const s = new ManualSocket();
  const o = new Outbox(s, 3);
  s.open = false;
  o.offerPosition(frame(1));
  o.pushUrgent(text('x'));
  assert.equal(s.written.length, 0);
  o.clear();
  assert.equal(o.queuedBytes(), 0);
});

test('session ids are 128-bit base64url and distinct', () => {
  const ids = new Set(Array.from({ length: 100 }, newSessionId));
  assert.equal(ids.size, 100);
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
});

test('parked sessions: taken back once, expire after the TTL, bounded by count (oldest first) and by ids held', () => {
  const st = new SessionStore({ ttlMs: 1000, maxSessions: 3, maxIds: 50 });
  const sub = normalizeSubscription({ ids: [1, 2, 3] });
  st.park('a', { sub, alerts: true, cluster: false }, 0);
  assert.deepEqual(st.take('a', 500), { sub, alerts: true, cluster: false });
  assert.equal(st.take('a', 500), null, 'a session is resumed once');

  st.park('b', { sub: null, alerts: true, cluster: false }, 0);
  assert.equal(st.take('b', 1001), null, 'expired');

  for (const id of ['c', 'd', 'e', 'f']) st.park(id, { sub: null, alerts: false, cluster: true }, 10);
  assert.equal(st.size(), 3);
  assert.equal(st.take('c', 20), null, 'the oldest was dropped for the count bound');
  assert.equal(st.dropped, 1);

  const big = normalizeSubscription({ ids: Array.from({ length: 45 }, (_, i) => i + 1) });
  st.park('g', { sub: big, alerts: false, cluster: false }, 30);
  // g weighs 46 (+1 each for e and f: 48 ≤ 50; d went for the count). h's 46 more does not fit:
  // the oldest go first (e, f, then g) until it does.
  st.park('h', { sub: big, alerts: false, cluster: false }, 40);
  assert.equal(st.size(), 1);
  assert.equal(st.take('g', 50), null, 'dropped for the ids bound');
  assert.ok(st.take('h', 50));

  st.park('i', { sub: null, alerts: true, cluster: false }, 100);
  st.park('j', { sub: null, alerts: true, cluster: false }, 1000);
  assert.equal(st.sweep(1500), 1, 'the sweep drops the expired session');
  assert.equal(st.size(), 1);
});

test('wsFrame: RFC 6455 unmasked server frames with 7-, 16- and 64-bit lengths, read back by ws itself', async () => {
  const { wsFrame } = await import('../../actors/gateway/ws.js');
  const { Receiver } = (await import('ws')) as unknown as { Receiver: new (o: object) => NodeJS.WritableStream & { on(e: string, f: (...a: any[]) => void): void } };
  for (const [n, binary] of [[5, false], [125, true], [126, true], [65_535, false], [65_536, true], [200_000, true]] as const) {
    const payload = new Uint8Array(n).map((_, i) => (binary ? i % 251 : 97 + (i % 26)));
    const f = wsFrame(payload, binary);
    assert.equal(f[0], binary ? 0x82 : 0x81);
    assert.equal(f.byteLength, payload.byteLength + (n < 126 ? 2 : n < 65_536 ? 4 : 10));
    // ws's own parser (as a client would read it) gets the same message back.
    const r = new Receiver({ isServer: false, maxPayload: 0 });
    const got = await new Promise<{ data: Buffer; isBinary: boolean }>((resolve, reject) => {
      r.on('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
      r.on('error', reject);
      r.write(f);
    });
    assert.equal(got.isBinary, binary);
    assert.ok(Buffer.from(payload).equals(got.data), `payload of ${n} bytes`);
  }
});
