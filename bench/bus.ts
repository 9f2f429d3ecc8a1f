/**
 * Bus benchmark: the embedded bus and NATS JetStream (NATS_URL, default
 * 127.0.0.1:4222), through the same Transport interface the actors use.
 *
 *   npm run bench:bus
 *
 * For each transport:
 *   - core pub/sub: publish → subscriber, messages/s;
 *   - work queue at max rate: pipelined enqueues (many in flight), a consumer
 *     with a large prefetch that acks each task, tasks/s from first enqueue
 *     to last ack;
 *   - latency: enqueue() call → handler start, p50/p99, with enqueues paced
 *     at about half the max rate just measured.
 * For NATS also: latency paced at 5,000/s (half the 10,000/s target), and
 * the max rate at the worker's default prefetch of 32. Then the same
 * work-queue loop on the raw JetStream client (js.publish, consume(), plain
 * ack, ackAck, or plain ack + one shared flush), as a client-side reference.
 *
 * Figures only, no assertions: timings depend on the machine. NATS work runs
 * in a fresh namespace whose streams are deleted afterwards.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy } from '@nats-io/jetstream';
import { EmbeddedTransport } from '../actors/runtime/transport/embedded.js';
import { connectNats } from '../actors/runtime/transport/nats.js';
import { names, QUEUES, type Names } from '../protocol/names.js';
import { DEFAULT_TOPOLOGY, type TopologySettings } from '../protocol/topology.js';
import type { Transport } from '../protocol/transport.js';

const NATS_URL = process.env.NATS_URL || '127.0.0.1:4222';
const PAYLOAD_BYTES = 128;

const TOPOLOGY: TopologySettings = { ...DEFAULT_TOPOLOGY, ackWaitMs: 30_000, maxDeliver: 5 };

interface Profile {
  label: string;
  pubsubSeconds: number;
  workSeconds: number;
  latencySeconds: number;
  /** Enqueues in flight at once during the max-rate run. */
  window: number;
  prefetch: number;
}

interface Row {
  transport: string;
  pubsubPerSec: number | null;
  tasksPerSec: number | null;
  pacedRate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  note: string;
}

function payload(): Uint8Array {
  return new Uint8Array(PAYLOAD_BYTES).fill(0x61);
}

function fmtRate(n: number | null): string {
  return n === null ? '-' : Math.round(n).toLocaleString('en-US');
}

function fmtMs(n: number | null): string {
  return n === null ? '-' : n.toFixed(2);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Core pub/sub: publish in chunks (yielding so the subscriber can run) for `seconds`, then wait for the tail. */
async function benchPubSub(t: Transport, subject: string, seconds: number): Promise<number> {
  const data = payload();
  let received = 0;
  let lastAt = 0;
  const sub = t.subscribe(subject, () => {
    received++;
    lastAt = performance.now();
  });
  await t.flush();
  const start = performance.now();
  const end = start + seconds * 1000;
  let sent = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 2000; i++) t.publish(subject, data);
    sent += 2000;
    // Keep the publisher at most ~50k messages ahead of the subscriber so a
    // client buffer (or the server's slow-consumer limit) is not what we measure.
    if (sent - received > 50_000) await t.flush();
    await new Promise((r) => setImmediate(r));
  }
  await t.flush();
  const deadline = performance.now() + 10_000;
  while (received < sent && performance.now() < deadline) await sleep(5);
  sub.unsubscribe();
  return received / ((lastAt - start) / 1000);
}

/** Work queue at max rate: a window of pipelined enqueues, one consumer acking everything. */
async function benchWorkMax(t: Transport, runId: string, p: Profile): Promise<{ rate: number; acked: number }> {
  const data = payload();
  let acked = 0;
  let lastAckAt = 0;
  const consumer = await t.consume('high', { prefetch: p.prefetch }, async (m) => {
    await m.ack();
    acked++;
    lastAckAt = performance.now();
  });
  const start = performance.now();
  const end = start + p.workSeconds * 1000;
  let sent = 0;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const done = (): void => {
    inFlight--;
    if (wake && inFlight < p.window) {
      const w = wake;
      wake = null;
      w();
    }
  };
  while (performance.now() < end) {
    while (inFlight < p.window) {
      inFlight++;
      t.enqueue('high', `${runId}-w-${sent++}`, data).then(done, (err) => {
        done();
        console.error('enqueue failed:', (err as Error).message);
      });
      // Also bound the backlog: what is measured is enqueue → process → ack.
      if (sent - acked > p.window * 4) break;
    }
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 5);
    });
  }
  const deadline = performance.now() + 30_000;
  while (acked < sent && performance.now() < deadline) await sleep(5);
  await consumer.stop();
  return { rate: acked / ((lastAckAt - start) / 1000), acked };
}

/** Latency enqueue() → handler start, enqueues paced at `rate` per second. */
async function benchLatency(t: Transport, runId: string, rate: number, seconds: number, prefetch: number): Promise<{ p50: number; p99: number; max: number; n: number }> {
  const total = Math.max(1, Math.round(rate * seconds));
  const lat = new Float64Array(total);
  let n = 0;
  const consumer = await t.consume('satellite', { prefetch }, async (m) => {
    const sentAt = new DataView(m.data.buffer, m.data.byteOffset, 8).getFloat64(0, true);
    if (n < total) lat[n++] = performance.now() - sentAt;
    await m.ack();
  });
  // Warm-up: the first messages pay for JIT and the first fetch.
  await t.enqueue('satellite', `${runId}-warm`, payload());
  await sleep(200);
  n = 0;
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    // Send whatever the schedule says is due by now (timers fire ~1 ms apart).
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (sent < due) {
      const data = payload();
      new DataView(data.buffer).setFloat64(0, performance.now(), true);
      t.enqueue('satellite', `${runId}-l-${sent++}`, data).catch((err) => console.error('enqueue failed:', (err as Error).message));
    }
    await sleep(1);
  }
  const deadline = performance.now() + 30_000;
  while (n < total && performance.now() < deadline) await sleep(5);
  await consumer.stop();
  const sorted = lat.slice(0, n).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, n };
}

async function runProfile(p: Profile, t: Transport, n: Names): Promise<Row> {
  const runId = randomBytes(4).toString('hex');
  process.stdout.write(`${p.label}: pub/sub ...`);
  const pubsub = await benchPubSub(t, `${n.namespace}.bench.pubsub`, p.pubsubSeconds);
  process.stdout.write(` ${fmtRate(pubsub)} msg/s; work queue ...`);
  const work = await benchWorkMax(t, runId, p);
  process.stdout.write(` ${fmtRate(work.rate)} tasks/s; latency ...`);
  const paced = Math.max(1, Math.round(work.rate / 2));
  const lat = await benchLatency(t, runId, paced, p.latencySeconds, p.prefetch);
  process.stdout.write(` p99 ${fmtMs(lat.p99)} ms\n`);
  return {
    transport: p.label,
    pubsubPerSec: pubsub,
    tasksPerSec: work.rate,
    pacedRate: paced,
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    maxMs: lat.max,
    note: `${work.acked} tasks, window ${p.window}, prefetch ${p.prefetch}; ${lat.n} paced`,
  };
}

async function deleteNamespace(n: Names): Promise<void> {
  const nc = await connect({ servers: NATS_URL, timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    const streams = [...QUEUES.map((q) => n.streams.work(q)), n.streams.deadLetter, ...Object.values(n.buckets).map((b) => `KV_${b}`)];
    await Promise.all(streams.map((s) => jsm.streams.delete(s).catch(() => false)));
  } finally {
    await nc.close();
  }
}

/**
 * The same loop on the raw client, to separate what the transport adds from
 * what JetStream costs: pipelined js.publish with msgID, a consume() with a
 * large max_messages, and plain ack (fire-and-forget) or ackAck.
 */
type AckMode = 'ack' | 'ackAck' | 'ack+flush';

async function rawJetStream(seconds: number, window: number, mode: AckMode): Promise<number> {
  const n = names(`bench${randomBytes(4).toString('hex')}`);
  const stream = n.streams.work('high');
  const subject = n.subjects.work('high');
  // noAsyncTraces as the transport sets it, so the comparison is like for like.
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject], retention: 'workqueue' as never, storage: 'file' as never });
    await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    const js = jetstream(nc);
    const c = await js.consumers.get(stream, 'raw');
    let acked = 0;
    let lastAckAt = 0;
    const msgs = await c.consume({ max_messages: 2000 });
    // ack+flush: a plain ack, confirmed by one PING/PONG shared by every ack
    // sent in the meantime (the server has read the ack; it has not
    // necessarily applied it, which is what ackAck waits for).
    let flushing: Promise<void> | null = null;
    const counted = (): void => {
      acked++;
      lastAckAt = performance.now();
    };
    const loop = (async () => {
      for await (const m of msgs) {
        if (mode === 'ackAck') {
          void m.ackAck().then(counted);
        } else if (mode === 'ack+flush') {
          m.ack();
          flushing ??= nc.flush().then(() => {
            flushing = null;
          });
          void flushing.then(counted);
        } else {
          m.ack();
          counted();
        }
      }
    })();
    const data = payload();
    const start = performance.now();
    const end = start + seconds * 1000;
    let sent = 0;
    let inFlight = 0;
    while (performance.now() < end) {
      while (inFlight < window && sent - acked < window * 4) {
        inFlight++;
        js.publish(subject, data, { msgID: `r-${sent++}` }).then(
          () => inFlight--,
          () => inFlight--,
        );
      }
      await sleep(1);
    }
    const deadline = performance.now() + 30_000;
    while (acked < sent && performance.now() < deadline) await sleep(5);
    await msgs.close();
    await loop;
    const rate = acked / ((lastAckAt - start) / 1000);
    await jsm.streams.delete(stream).catch(() => false);
    return rate;
  } finally {
    await nc.close();
  }
}

function printTable(rows: Row[]): void {
  const head = ['transport', 'pub/sub msg/s', 'work tasks/s (max)', 'paced at /s', 'p50 ms', 'p99 ms', 'max ms', 'notes'];
  const body = rows.map((r) => [
    r.transport,
    fmtRate(r.pubsubPerSec),
    fmtRate(r.tasksPerSec),
    fmtRate(r.pacedRate),
    fmtMs(r.p50Ms),
    fmtMs(r.p99Ms),
    fmtMs(r.maxMs),
    r.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log('');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  console.log(`bus benchmark: ${PAYLOAD_BYTES}-byte messages, node ${process.version}, NATS at ${NATS_URL}`);
  const rows: Row[] = [];
  const began = performance.now();

  {
    const n = names(`bench${randomBytes(4).toString('hex')}`);
    const t = new EmbeddedTransport({ names: n, topology: TOPOLOGY });
    try {
      rows.push(await runProfile({ label: 'embedded', pubsubSeconds: 3, workSeconds: 4, latencySeconds: 3, window: 5000, prefetch: 1000 }, t, n));
    } finally {
      await t.close();
    }
  }

  const n = names(`bench${randomBytes(4).toString('hex')}`);
  let nats: Transport | null = null;
  try {
    nats = await connectNats({ servers: NATS_URL, names: n, topology: TOPOLOGY, name: 'bench-bus' });
    await nats.provision();
  } catch (err) {
    console.log(`NATS: skipped, cannot connect/provision at ${NATS_URL}: ${(err as Error).message}`);
    if (nats) await nats.close().catch(() => undefined);
    nats = null;
  }
  if (nats) {
    try {
      rows.push(await runProfile({ label: 'nats (transport)', pubsubSeconds: 3, workSeconds: 6, latencySeconds: 4, window: 1000, prefetch: 1000 }, nats, n));
      // The target's own operating point: half of 10,000 tasks/s, whatever the max above was.
      process.stdout.write('nats (transport) paced at 5,000/s: latency ...');
      const lat = await benchLatency(nats, `${randomBytes(4).toString('hex')}-fixed`, 5000, 4, 1000);
      process.stdout.write(` p99 ${fmtMs(lat.p99)} ms\n`);
      rows.push({ transport: 'nats (transport) @5k/s', pubsubPerSec: null, tasksPerSec: null, pacedRate: 5000, p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max, note: `${lat.n} paced, prefetch 1000` });
      // The worker's default prefetch (work.prefetch = 32): fewer tasks held per pull.
      process.stdout.write('nats (transport) prefetch 32: work queue ...');
      const small = await benchWorkMax(nats, `${randomBytes(4).toString('hex')}-p32`, { label: 'p32', pubsubSeconds: 0, workSeconds: 4, latencySeconds: 0, window: 1000, prefetch: 32 });
      process.stdout.write(` ${fmtRate(small.rate)} tasks/s\n`);
      rows.push({ transport: 'nats (transport) prefetch 32', pubsubPerSec: null, tasksPerSec: small.rate, pacedRate: null, p50Ms: null, p99Ms: null, maxMs: null, note: `${small.acked} tasks, window 1000, prefetch 32` });
    } finally {
      await nats.close();
      await deleteNamespace(n).catch((err) => console.error('cleanup failed:', (err as Error).message));
    }
    for (const mode of ['ack', 'ackAck', 'ack+flush'] as const) {
      const label = `nats raw JetStream, ${mode}`;
      process.stdout.write(`${label}: work queue ...`);
      const rate = await rawJetStream(4, 1000, mode);
      process.stdout.write(` ${fmtRate(rate)} tasks/s\n`);
      rows.push({ transport: label, pubsubPerSec: null, tasksPerSec: rate, pacedRate: null, p50Ms: null, p99Ms: null, maxMs: null, note: 'client-side reference: js.publish window 1000, consume() max_messages 2000' });
    }
  }

  printTable(rows);
  console.log('');
  console.log('targets: embedded ≥ 100,000 tasks/s; NATS (local JetStream) ≥ 10,000 tasks/s with p99 ≤ 20 ms at half that rate');
  console.log(`total ${((performance.now() - began) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
