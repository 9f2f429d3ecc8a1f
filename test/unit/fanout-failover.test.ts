/**
 * Issue 11 (defect 7): the fanout across a tracker failover and a NATS
 * reconnect. Clients are real Outboxes (actors/gateway/outbox.ts) over a
 * socket that writes each message after a turn of the loop (a fast client)
 * or never (a client that stopped reading). Frames are delivered the way
 * the bus hands them over: a tick's frames in one synchronous batch per
 * publisher, and after a reconnect a backlog of several ticks at once.
 * Fast clients must never be closed; the stalled one must be.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateFanout, type FanoutClient } from '../../actors/gateway/fanout.js';
import { Outbox } from '../../actors/gateway/outbox.js';
import { normalizeSubscription } from '../../actors/gateway/subscription.js';
import { decodeTrackerFrame, encodeTrackerFrame, STATE_STRIDE } from '../../protocol/frames/tracker-state.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Objects 1..N, shard = id % SHARDS. */
const SHARDS = 8;
const OBJECTS = 400;
function frame(shard: number, tickMs: number): Uint8Array {
  const ids: number[] = [];
  for (let id = 1; id <= OBJECTS; id++) if (id % SHARDS === shard) ids.push(id);
  const values = new Float64Array(ids.length * STATE_STRIDE);
  ids.forEach((id, k) => {
    values[k * STATE_STRIDE + 6] = (id % 160) - 80;
    values[k * STATE_STRIDE + 7] = ((id * 7) % 340) - 170;
  });
  return encodeTrackerFrame(shard, tickMs, { ids: new Uint32Array(ids), flags: new Uint32Array(ids.length), values, count: ids.length });
}

interface Probe {
  client: FanoutClient;
  closed: { code: number; reason: string } | null;
  frames: number;
  ticks: number[];
}

/** A websocket client over a real Outbox; `fast` writes complete after a turn of the loop, otherwise never. */
function client(fast: boolean): Probe {
  const p: Probe = { client: null as unknown as FanoutClient, closed: null, frames: 0, ticks: [] };
  let open = true;
  let inSocket = 0;
  const outbox = new Outbox(
    {
      write: (data, _binary, done) => {
        inSocket = data.byteLength;
        p.frames += 1;
        p.ticks.push(decodeTrackerFrame(data).tickMs);
        if (fast)
          setImmediate(() => {
            inSocket = 0;
            done();
          });
      },
      isOpen: () => open,
    },
    16,
  );
  p.client = {
    send: (b) => outbox.offerPosition(b),
    bufferedAmount: () => inSocket + outbox.queuedBytes(),
    close: (code, reason) => {
      open = false;
      p.closed = { code, reason };
    },
  };
  return p;
}

test('no fast client is dropped across a tracker failover and a NATS reconnect backlog; one flush per tick; a stalled client is', async () => {
  const PERIOD = 40;
  const f = new StateFanout({ maxBufferedBytes: 1 << 20, maxSkippedFrames: 3, coalesceMs: 10, tickPeriodMs: PERIOD, groupsOf: () => undefined });
  const fast = Array.from({ length: 6 }, () => client(true));
  const stalled = client(false);
  const subs = [{ all: true }, { bbox: [-180, -90, 0, 90] as [number, number, number, number] }, { ids: [1, 2, 3, 9, 17] }];
  fast.forEach((c, i) => {
    f.addClient(c.client);
    f.subscribe(c.client, normalizeSubscription(subs[i % subs.length]!));
  });
  f.addClient(stalled.client);
  f.subscribe(stalled.client, normalizeSubscription({ all: true }));

  const hostA = [0, 1, 2, 3];
  const hostB = [4, 5, 6, 7];
  let t = 1_000_000;
  let ticks = 0;
  /** One tick: each publisher's frames in one synchronous batch (as the bus delivers them), then the tick period. */
  const tick = async (publishers: number[][]): Promise<void> => {
    t += PERIOD;
    ticks += 1;
    for (const shards of publishers) for (const s of shards) f.ingest(frame(s, t));
    await sleep(PERIOD);
  };

  // Steady state: two hosts.
  for (let k = 0; k < 5; k++) await tick([hostA, hostB]);
  // Host B dies: its shards are silent; the survivor takes them over, all at once and then (after B's
  // return and second death) one per tick: each such tick has more shards than the one before.
  for (let k = 0; k < 2; k++) await tick([hostA]);
  const survivor = [...hostA, ...hostB];
  await tick([survivor]);
  await tick([hostA, hostB]);
  await tick([hostA]);
  survivor.length = 0;
  survivor.push(...hostA);
  for (const s of hostB) {
    survivor.push(s);
    await tick([survivor]);
  }
  // An overlap: the old owner's last frames of a tick arrive beside the new owner's (two publishers, one tick).
  await tick([survivor, [4, 5]]);
  // B comes back and takes half again: fewer shards than the tick before.
  for (let k = 0; k < 3; k++) await tick([hostA, hostB]);
  const flushesBefore = f.stats().flushes;
  const ticksBefore = ticks;
  // A NATS reconnect: a backlog of 8 ticks from both hosts at once, then normal ticks again.
  for (let k = 0; k < 8; k++) {
    t += PERIOD;
    for (const s of [...hostA, ...hostB]) f.ingest(frame(s, t));
  }
  const burstFlushes = f.stats().flushes - flushesBefore;
  await sleep(PERIOD);
  for (let k = 0; k < 5; k++) await tick([hostA, hostB]);
  await sleep(PERIOD);

  const st = f.stats();
  console.log(
    `ticks ${ticks} + 8 in a burst: ${st.flushes} flushes (burst: ${burstFlushes} synchronous), ${st.skippedFrames} skips, ` +
      `${st.slowDisconnects} slow disconnects; fast clients got ${fast.map((c) => c.frames).join('/')} frames`,
  );
  for (const c of fast) assert.equal(c.closed, null, `a fast client was closed: ${c.closed?.reason}`);
  assert.equal(stalled.closed?.code, 1008, 'the client that stopped reading is closed for its own slowness');
  assert.equal(st.slowDisconnects, 1);
  // One flush per tick at most; the backlog's 8 ticks are merged (one flush as it arrives, one for the rest).
  assert.ok(st.flushes <= ticks + 8, `${st.flushes} flushes for ${ticks} ticks and a backlog of 8`);
  assert.ok(burstFlushes <= 1, `${burstFlushes} flushes while the backlog arrived`);
  assert.ok(st.flushes - flushesBefore <= ticks - ticksBefore + 2, `${st.flushes - flushesBefore} flushes for the backlog and ${ticks - ticksBefore} ticks`);
  // Every fast all-catalog client ends with the newest tick.
  assert.equal(fast[0]!.ticks.at(-1), t);
  // And never saw a tick go backwards.
  for (const c of fast) for (let i = 1; i < c.ticks.length; i++) assert.ok(c.ticks[i]! >= c.ticks[i - 1]!);
  f.close();
});
