/**
 * StateFanout (actors/gateway/fanout.ts) with in-process clients: one encode
 * per subscription shared by its clients, only changed states per tick,
 * snapshots, latest wins, slow clients skipped then closed, malformed frames
 * counted, stale states dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateFanout, type FanoutClient } from '../../actors/gateway/fanout.js';
import { matches, normalizeSubscription } from '../../actors/gateway/subscription.js';
import { decodeTrackerFrame, encodeTrackerFrame, STATE_STRIDE } from '../../protocol/frames/tracker-state.js';

class TestClient implements FanoutClient {
  sent: Uint8Array[] = [];
  buffered = 0;
  closed: { code: number; reason: string } | null = null;
  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
}

/** A tracker frame with the given ids at lat = id % 90, lon = id % 180. */
function frame(shard: number, tickMs: number, ids: number[]): Uint8Array {
  const values = new Float64Array(ids.length * STATE_STRIDE);
  ids.forEach((id, k) => {
    values[k * STATE_STRIDE + 6] = id % 90;
    values[k * STATE_STRIDE + 7] = id % 180;
  });
  return encodeTrackerFrame(shard, tickMs, { ids: new Uint32Array(ids), flags: new Uint32Array(ids.length), values, count: ids.length });
}

const groups: Record<number, string[]> = { 10: ['g'], 11: ['g'] };
const newFanout = (o: Partial<ConstructorParameters<typeof StateFanout>[0]> = {}) =>
  new StateFanout({ maxBufferedBytes: 1000, maxSkippedFrames: 3, coalesceMs: 5, groupsOf: (id) => groups[id], ...o });

test('one encode per subscription, shared by every client holding it; only matching ids', () => {
  const f = newFanout();
  const a = new TestClient();
  const b = new TestClient();
  const c = new TestClient();
  for (const x of [a, b, c]) f.addClient(x);
  f.subscribe(a, normalizeSubscription({ ids: [1, 2] }));
  f.subscribe(b, normalizeSubscription({ ids: [2, 1] }));
  f.subscribe(c, normalizeSubscription({ groups: ['g'] }));
  f.ingest(frame(0, 1000, [1, 2, 3, 10]));
  f.ingest(frame(1, 1000, [11, 12]));
  f.flush();
  assert.equal(a.sent.length, 1);
  assert.equal(a.sent[0], b.sent[0], 'the same bytes object, not a copy per client');
  assert.deepEqual([...decodeTrackerFrame(a.sent[0]!).columns.ids], [1, 2]);
  assert.deepEqual([...decodeTrackerFrame(c.sent[0]!).columns.ids].sort(), [10, 11]);
  assert.equal(f.stats().encodes, 2);
  f.close();
});

test('a flush sends only states changed since the last one; a late older frame does not overwrite', () => {
  const f = newFanout();
  const a = new TestClient();
  f.addClient(a);
  f.subscribe(a, normalizeSubscription({ all: true }));
  f.ingest(frame(0, 2000, [1, 2]));
  f.flush();
  f.ingest(frame(1, 2000, [3]));
  f.ingest(frame(0, 1000, [1])); // late
  f.flush();
  assert.equal(a.sent.length, 2);
  assert.deepEqual([...decodeTrackerFrame(a.sent[1]!).columns.ids], [3]);
  f.flush();
  assert.equal(a.sent.length, 2, 'nothing changed: nothing sent');
  f.close();
});

test('frames of one tick are coalesced into one send', async () => {
  const f = newFanout({ coalesceMs: 20 });
  const a = new TestClient();
  f.addClient(a);
  f.subscribe(a, normalizeSubscription({ all: true }));
  f.ingest(frame(0, 3000, [1]));
  f.ingest(frame(1, 3000, [2]));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(a.sent.length, 1);
  assert.deepEqual([...decodeTrackerFrame(a.sent[0]!).columns.ids].sort(), [1, 2]);
  assert.equal(decodeTrackerFrame(a.sent[0]!).tickMs, 3000);
  f.close();
});

test('subscribe returns a snapshot of the latest matching states; unsubscribe stops the flow', () => {
  const f = newFanout();
  f.ingest(frame(0, 1000, [1, 2, 3]));
  f.ingest(frame(0, 2000, [2]));
  const a = new TestClient();
  f.addClient(a);
  const { matched, snapshot } = f.subscribe(a, normalizeSubscription({ ids: [2, 3, 99] }));
  assert.equal(matched, 2);
  const snap = decodeTrackerFrame(snapshot!);
  assert.deepEqual([...snap.columns.ids].sort(), [2, 3]);
  assert.equal(snap.tickMs, 2000);
  f.subscribe(a, null);
  f.flush();
  f.ingest(frame(0, 3000, [2]));
  f.flush();
  assert.equal(a.sent.length, 0);
  assert.equal(f.stats().subscriptionClasses, 0);
  f.close();
});

test('a slow client skips frames (the others are served) and is closed after maxSkippedFrames in a row', () => {
  const f = newFanout({ maxSkippedFrames: 3 });
  const slow = new TestClient();
  const fast = new TestClient();
  f.addClient(slow);
  f.addClient(fast);
  f.subscribe(slow, normalizeSubscription({ all: true }));
  f.subscribe(fast, normalizeSubscription({ all: true }));
  slow.buffered = 5000;
  for (let t = 1; t <= 2; t++) {
    f.ingest(frame(0, t * 1000, [1]));
    f.flush();
  }
  assert.equal(slow.sent.length, 0);
  assert.equal(fast.sent.length, 2);
  // It catches up: the counter resets and it gets the latest frame only.
  slow.buffered = 0;
  f.ingest(frame(0, 3000, [1]));
  f.flush();
  assert.equal(slow.sent.length, 1);
  assert.equal(decodeTrackerFrame(slow.sent[0]!).tickMs, 3000);
  slow.buffered = 5000;
  for (let t = 4; t <= 6; t++) {
    f.ingest(frame(0, t * 1000, [1]));
    f.flush();
  }
  assert.equal(slow.closed?.code, 1008);
  assert.equal(f.stats().slowDisconnects, 1);
  assert.equal(f.stats().skippedFrames, 5);
  assert.equal(f.stats().clients, 1);
  assert.equal(fast.sent.length, 6);
  f.close();
});

test('malformed frames are counted and dropped; stale states are swept', () => {
  let seen = 0;
  const f = newFanout({ staleMs: 10_000, onMalformed: () => (seen += 1) });
  assert.equal(f.ingest(new Uint8Array([1, 2, 3])), false);
  const good = frame(0, 1000, [1, 2]);
  assert.equal(f.ingest(good.subarray(0, good.length - 1)), false);
  assert.equal(f.stats().malformedFrames, 2);
  assert.equal(seen, 2);
  f.ingest(frame(0, 1000, [1]));
  f.ingest(frame(0, 8000, [2]));
  assert.equal(f.sweep(15_000), 1);
  assert.equal(f.stats().objects, 1);
  f.close();
});

test('frames carry the flush seq in the reserved header word; a resume snapshot holds only states flushed after lastSeq', () => {
  const f = newFanout();
  const a = new TestClient();
  f.addClient(a);
  f.subscribe(a, normalizeSubscription({ all: true }));
  f.ingest(frame(0, 1000, [1, 2, 3]));
  f.flush();
  f.ingest(frame(0, 2000, [2]));
  f.flush();
  const seqOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(20, true);
  assert.deepEqual(a.sent.map(seqOf), [1, 2]);
  // Still a valid tracker frame for the tracker's own decoder.
  assert.deepEqual([...decodeTrackerFrame(a.sent[1]!).columns.ids], [2]);

  const b = new TestClient();
  f.addClient(b);
  const r = f.subscribe(b, normalizeSubscription({ ids: [1, 2, 3] }), 1);
  assert.equal(r.matched, 1, 'only id 2 changed after seq 1');
  assert.equal(r.seq, 2);
  assert.equal(seqOf(r.snapshot!), 2);
  assert.deepEqual([...decodeTrackerFrame(r.snapshot!).columns.ids], [2]);
  assert.equal(f.subscribe(b, normalizeSubscription({ ids: [1, 2, 3] }), 2).snapshot, null, 'nothing newer than the latest seq');
  // A seq this fanout never reached (another gateway's, or before a restart): everything.
  assert.equal(f.subscribe(b, normalizeSubscription({ ids: [1, 2, 3] }), 99).matched, 3);
  // The subscription handed back is the class's shared object.
  const again = f.subscribe(b, normalizeSubscription({ all: true }));
  assert.equal(again.sub, f.subscribe(a, normalizeSubscription({ all: true })).sub);
  f.close();
});

test('a client whose queue replaced an unsent frame counts a skip; maxSkippedFrames of them in a row close it', () => {
  const f = newFanout({ maxSkippedFrames: 2 });
  const sent: Uint8Array[] = [];
  let pending = false;
  let closed: number | null = null;
  // Like the outbox of a client that stopped reading: the first frame waits, the next ones replace it.
  const c: FanoutClient = {
    send: (b) => {
      sent.push(b);
      const replaced = pending;
      pending = true;
      return !replaced;
    },
    bufferedAmount: () => 0,
    close: (code) => (closed = code),
  };
  f.addClient(c);
  f.subscribe(c, normalizeSubscription({ all: true }));
  for (let t = 1; t <= 3; t++) {
    f.ingest(frame(0, t * 1000, [1]));
    f.flush();
  }
  assert.equal(f.stats().skippedFrames, 2);
  assert.equal(closed, 1008);
  assert.equal(f.stats().clients, 0);
  f.close();
});

test('bbox classes matched through the grid send exactly what matches() selects (antimeridian and poles included)', () => {
  const f = newFanout();
  // 2,000 states spread over the globe (deterministic), one frame.
  const ids = Array.from({ length: 2000 }, (_, i) => i + 1);
  const values = new Float64Array(ids.length * STATE_STRIDE);
  const pos = new Map<number, [number, number]>();
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  ids.forEach((id, k) => {
    const lat = rnd() * 180 - 90;
    const lon = rnd() * 360 - 180;
    values[k * STATE_STRIDE + 6] = lat;
    values[k * STATE_STRIDE + 7] = lon;
    pos.set(id, [Math.fround(lat), Math.fround(lon)]);
  });
  const boxes: Array<[number, number, number, number]> = [
    [-10, -10, 10, 10],
    [170, -30, -170, 30],
    [-180, 80, 180, 90],
    [-180, -90, 180, 90],
    [33.3, -5.5, 33.4, 60],
    [179.99, -90, -179.99, 90],
  ];
  const clients = boxes.map(() => new TestClient());
  clients.forEach((c, i) => {
    f.addClient(c);
    f.subscribe(c, normalizeSubscription({ bbox: boxes[i]! }));
  });
  f.ingest(encodeTrackerFrame(0, 1000, { ids: new Uint32Array(ids), flags: new Uint32Array(ids.length), values, count: ids.length }));
  f.flush();
  clients.forEach((c, i) => {
    const sub = normalizeSubscription({ bbox: boxes[i]! });
    const want = ids.filter((id) => matches(sub, id, pos.get(id)![0], pos.get(id)![1], () => undefined)).sort((a, b) => a - b);
    const got = c.sent.length ? [...decodeTrackerFrame(c.sent[0]!).columns.ids].sort((a, b) => a - b) : [];
    assert.deepEqual(got, want, `bbox ${boxes[i]}`);
  });
  assert.ok(clients[3]!.sent.length === 1 && decodeTrackerFrame(clients[3]!.sent[0]!).count === 2000);
  f.close();
});

test('a tick is flushed as soon as every shard of the previous tick has sent its frame; frames go out smallest first', async () => {
  const f = newFanout({ coalesceMs: 60_000 });
  const small = new TestClient();
  const big = new TestClient();
  f.addClient(big);
  f.addClient(small);
  f.subscribe(big, normalizeSubscription({ all: true }));
  f.subscribe(small, normalizeSubscription({ ids: [1] }));
  const order: string[] = [];
  big.send = (b) => void order.push(`big:${decodeTrackerFrame(b).tickMs}`);
  small.send = (b) => void order.push(`small:${decodeTrackerFrame(b).tickMs}`);
  // First tick: which shards exist is not known yet; waits for the window (flushed by hand here).
  f.ingest(frame(0, 1000, [1, 2]));
  f.ingest(frame(1, 1000, [3]));
  f.flush();
  // Ticks 20 ms apart: two flushes are at least 10 ms apart.
  await new Promise((r) => setTimeout(r, 15));
  // Second tick: the flush happens when shard 0 (the last of the previous tick's shards) arrives.
  f.ingest(frame(1, 1020, [3]));
  assert.deepEqual(order, ['small:1000', 'big:1000']);
  f.ingest(frame(0, 1020, [1, 2]));
  assert.deepEqual(order, ['small:1000', 'big:1000', 'small:1020', 'big:1020']);
  f.close();
});

test('a tick with more shards than the previous one is one flush; its extra shards are expected next tick', async () => {
  const f = newFanout({ coalesceMs: 60_000 });
  const a = new TestClient();
  f.addClient(a);
  f.subscribe(a, normalizeSubscription({ all: true }));
  f.ingest(frame(0, 1000, [1]));
  f.flush();
  await new Promise((r) => setTimeout(r, 15));
  // Tick 1020: shard 0 completes it (the previous tick had only shard 0); shards 1..3 (taken over) come after.
  for (const s of [0, 1, 2, 3]) f.ingest(frame(s, 1020, [1 + s * 10]));
  assert.equal(f.stats().flushes, 2, 'one flush for tick 1020, not one per extra shard');
  assert.equal(a.sent.length, 2);
  assert.deepEqual([...decodeTrackerFrame(a.sent[1]!).columns.ids], [1]);
  await new Promise((r) => setTimeout(r, 15));
  // Tick 1040 waits for all four shards, then one flush carries them and tick 1020's late states.
  for (const s of [3, 2, 1]) f.ingest(frame(s, 1040, [1 + s * 10]));
  assert.equal(f.stats().flushes, 2);
  f.ingest(frame(0, 1040, [1]));
  assert.equal(f.stats().flushes, 3);
  assert.deepEqual([...decodeTrackerFrame(a.sent[2]!).columns.ids].sort((x, y) => x - y), [1, 11, 21, 31]);
  // A second publisher's frame for a shard of the tick just flushed (a failover overlap): no flush of its own.
  f.ingest(frame(2, 1040, [21]));
  assert.equal(f.stats().flushes, 3);
  assert.equal(f.stats().skippedFrames, 0);
  f.close();
});

test('clients subscribing to one class between two ticks share one snapshot', () => {
  const f = newFanout();
  f.ingest(frame(0, 1000, [1, 2, 3]));
  f.flush();
  const a = new TestClient();
  const b = new TestClient();
  f.addClient(a);
  f.addClient(b);
  const sa = f.subscribe(a, normalizeSubscription({ ids: [1, 2] }));
  const sb = f.subscribe(b, normalizeSubscription({ ids: [2, 1] }));
  assert.equal(sa.snapshot, sb.snapshot, 'the same bytes');
  f.ingest(frame(0, 2000, [1]));
  f.flush();
  const sc = f.subscribe(b, normalizeSubscription({ ids: [1, 2] }));
  assert.notEqual(sc.snapshot, sa.snapshot, 'a new tick: a new snapshot');
  assert.equal(decodeTrackerFrame(sc.snapshot!).tickMs, 2000);
  f.close();
});
