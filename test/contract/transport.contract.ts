/**
 * The one contract both transports pass (protocol/transport.ts). Each test
 * gets a fresh transport from the factory (on NATS: a fresh namespace, so
 * nothing is shared with other tests or other runs) and cleans it up.
 *
 * Timings are small (AckWait ~500 ms, MaxDeliver 3) so the suite stays fast;
 * every wait is bounded, and the bounds are generous because they are about
 * distributed behaviour, not performance.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CasConflictError } from '../../protocol/errors.js';
import { WorkTaskMessage } from '../../protocol/messages/work-task.js';
import { DeadLetterMessage } from '../../protocol/messages/dead-letter.js';
import type { Names, QueueName } from '../../protocol/names.js';
import type { TopologySettings } from '../../protocol/topology.js';
import type { KvChange, Transport, WorkMessage } from '../../protocol/transport.js';

export interface TransportFixture {
  transport: Transport;
  /** The names the transport was built with (its namespace). */
  names: Names;
  /** Close the transport (if still open) and remove whatever it created. */
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Extra time allowed for asynchronous server paths (the MaxDeliver advisory on NATS). */
  graceMs?: number;
  /** Overrides of CONTRACT_TOPOLOGY. */
  topology?: Partial<TopologySettings>;
}

export const CONTRACT_TOPOLOGY: TopologySettings = {
  ackWaitMs: 500,
  maxDeliver: 3,
  dedupeWindowMs: 60_000,
  replicas: 1,
  deadLetterMaxAgeMs: 3_600_000,
};

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Poll until `cond` holds; fail with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function task(queue: QueueName, id: string, kind = 'contract.test', payload: unknown = {}): Uint8Array {
  return WorkTaskMessage.encode({ v: 1, id, kind, queue, createdAt: new Date().toISOString(), payload });
}

function taskId(m: WorkMessage): string {
  return WorkTaskMessage.decode(m.data).id;
}

/** Passes when `fn` throws or rejects with SW_ERR_CLOSED. */
async function assertClosed(what: string, fn: () => unknown): Promise<void> {
  let error: unknown = null;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  assert.ok(error, `${what} after close() should fail`);
  assert.equal((error as { code?: unknown }).code, 'SW_ERR_CLOSED', `${what} after close(): ${String(error)}`);
}

/** Active handles and requests by type, as a multiset. */
function resources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

function leaked(before: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [type, n] of resources()) {
    const extra = n - (before.get(type) ?? 0);
    if (extra > 0) out.push(`${type} ×${extra}`);
  }
  return out;
}

export function runTransportContract(
  label: string,
  factory: (settings: TopologySettings) => Promise<TransportFixture>,
  opts: ContractOptions = {},
): void {
  const settings: TopologySettings = { ...CONTRACT_TOPOLOGY, ...opts.topology };
  const { ackWaitMs, maxDeliver } = settings;
  const grace = opts.graceMs ?? 2000;
  const TEST_TIMEOUT = 60_000;

  async function withTransport(fn: (t: Transport, n: Names) => Promise<void>): Promise<void> {
    const fx = await factory(settings);
    try {
      await fx.transport.provision();
      await fn(fx.transport, fx.names);
    } finally {
      await fx.cleanup();
    }
  }

  describe(`transport contract: ${label}`, { timeout: 10 * 60_000 }, () => {
    test('pub/sub: exact, * and > subjects; unsubscribe stops delivery', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t, n) => {
        const ns = n.namespace;
        const got = { exact: [] as string[], star: [] as string[], gt: [] as string[] };
        const exact = t.subscribe(`${ns}.ps.a.b`, (m) => got.exact.push(`${m.subject}=${dec.decode(m.data)}`));
        const star = t.subscribe(`${ns}.ps.*.b`, (m) => got.star.push(m.subject));
        const gt = t.subscribe(`${ns}.ps.a.>`, (m) => got.gt.push(m.subject));
        t.publish(`${ns}.ps.a.b`, enc.encode('1'));
        t.publish(`${ns}.ps.x.b`, enc.encode('2'));
        t.publish(`${ns}.ps.a.b.c`, enc.encode('3'));
        t.publish(`${ns}.ps.a`, enc.encode('4')); // `a.>` needs at least one more token
        t.publish(`${ns}.ps.x.c`, enc.encode('5')); // matches nothing
        await t.flush();
        await waitFor(() => got.exact.length >= 1 && got.star.length >= 2 && got.gt.length >= 2, 5000, 'pub/sub deliveries');
        await sleep(100); // anything wrongly matched would have arrived by now
        assert.deepEqual(got.exact, [`${ns}.ps.a.b=1`]);
        assert.deepEqual(got.star.sort(), [`${ns}.ps.a.b`, `${ns}.ps.x.b`]);
        assert.deepEqual(got.gt.sort(), [`${ns}.ps.a.b`, `${ns}.ps.a.b.c`]);

        star.unsubscribe();
        t.publish(`${ns}.ps.a.b`, enc.encode('6'));
        await t.flush();
        await waitFor(() => got.exact.length === 2 && got.gt.length === 3, 5000, 'deliveries after an unsubscribe');
        await sleep(100);
        assert.equal(got.star.length, 2, 'no delivery after unsubscribe');
        exact.unsubscribe();
        gt.unsubscribe();
      }),
    );

    test('presence: absent with no answerer, present while one answers, absent again after the last unsubscribes', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t, n) => {
        const subject = n.subjects.hostPresence(`contract-${Math.random().toString(36).slice(2)}`);
        assert.equal(await t.probePresence(subject, 1000), 'absent', 'nobody has ever answered');
        const a = t.answerPresence(subject);
        const b = t.answerPresence(subject);
        await t.flush();
        assert.equal(await t.probePresence(subject, 1000), 'present');
        a.unsubscribe();
        a.unsubscribe(); // idempotent: must not take b's registration with it
        await t.flush();
        assert.equal(await t.probePresence(subject, 1000), 'present', 'one answerer left');
        b.unsubscribe();
        await t.flush();
        assert.equal(await t.probePresence(subject, 1000), 'absent', 'the last answerer left');
        assert.equal(await t.probePresence(n.subjects.hostPresence('other'), 1000), 'absent', 'probes are per subject');
      }),
    );

    test('enqueue → consume → ack; an acked task is not redelivered', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const seen: Array<{ id: string; count: number }> = [];
        const results = [];
        for (const id of ['a1', 'a2', 'a3']) results.push(await t.enqueue('high', id, task('high', id)));
        assert.ok(results.every((r) => !r.duplicate));
        assert.ok(results[0]!.seq < results[1]!.seq && results[1]!.seq < results[2]!.seq, 'seq grows');
        const c = await t.consume('high', { prefetch: 4 }, async (m) => {
          assert.equal(m.queue, 'high');
          assert.equal(m.maxDeliver, maxDeliver);
          assert.equal(m.msgId, taskId(m));
          seen.push({ id: m.msgId, count: m.deliveryCount });
          await m.ack();
        });
        await waitFor(() => seen.length >= 3, 10_000, 'three deliveries');
        // Past AckWait (plus slack): an acked task must not come back.
        await sleep(ackWaitMs * 2 + 200);
        assert.deepEqual(seen.map((s) => s.id).sort(), ['a1', 'a2', 'a3']);
        assert.ok(seen.every((s) => s.count === 1));
        await waitFor(async () => (await t.queueStats('high')).depth === 0, 5000, 'empty queue');
        await c.stop();
      }),
    );

    test('a repeated msgId inside the window is one task', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const first = await t.enqueue('satellite', 'dup-1', task('satellite', 'dup-1'));
        const second = await t.enqueue('satellite', 'dup-1', task('satellite', 'dup-1'));
        assert.equal(first.duplicate, false);
        assert.equal(second.duplicate, true);
        assert.equal(second.seq, first.seq, 'the duplicate reports the original sequence');
        assert.equal((await t.queueStats('satellite')).depth, 1);
        const seen: string[] = [];
        const c = await t.consume('satellite', { prefetch: 2 }, async (m) => {
          seen.push(m.msgId);
          await m.ack();
        });
        await waitFor(() => seen.length >= 1, 10_000, 'the delivery');
        await sleep(300);
        assert.deepEqual(seen, ['dup-1']);
        // Still a duplicate after the original was acked (the window, not the queue, decides).
        assert.equal((await t.enqueue('satellite', 'dup-1', task('satellite', 'dup-1'))).duplicate, true);
        await c.stop();
      }),
    );

    test('no ack within AckWait → redelivered with deliveryCount 2', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        await t.enqueue('high', 'slow-1', task('high', 'slow-1'));
        const deliveries: Array<{ count: number; at: number }> = [];
        const c = await t.consume('high', { prefetch: 1 }, async (m) => {
          deliveries.push({ count: m.deliveryCount, at: Date.now() });
          if (m.deliveryCount >= 2) await m.ack();
          // First delivery: return without settling, as a crashed worker would.
        });
        await waitFor(() => deliveries.length >= 2, ackWaitMs * 4 + grace, 'the redelivery');
        assert.deepEqual(deliveries.map((d) => d.count), [1, 2]);
        const gap = deliveries[1]!.at - deliveries[0]!.at;
        assert.ok(gap >= ackWaitMs * 0.8, `redelivered after ${gap} ms, AckWait is ${ackWaitMs} ms`);
        await sleep(ackWaitMs + 200);
        assert.equal(deliveries.length, 2, 'acked on the second delivery: no third');
        await waitFor(async () => (await t.queueStats('high')).depth === 0, 5000, 'empty queue');
        await c.stop();
      }),
    );

    test('working() heartbeats keep a task of 2.5× AckWait from being redelivered', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        await t.enqueue('weather', 'long-1', task('weather', 'long-1'));
        const counts: number[] = [];
        let done = false;
        const c = await t.consume('weather', { prefetch: 2 }, async (m) => {
          counts.push(m.deliveryCount);
          if (m.deliveryCount > 1) return; // a redelivery is the failure; leave it
          const end = Date.now() + ackWaitMs * 2.5;
          while (Date.now() < end) {
            await sleep(ackWaitMs / 4);
            m.working();
          }
          await m.ack();
          done = true;
        });
        await waitFor(() => done, ackWaitMs * 6 + grace, 'the long task');
        await sleep(ackWaitMs + 200);
        assert.deepEqual(counts, [1], 'delivered once');
        await c.stop();
      }),
    );

    test('nak(delay) → redelivered after about that delay', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const delayMs = 800;
        await t.enqueue('high', 'nak-1', task('high', 'nak-1'));
        const deliveries: Array<{ count: number; at: number }> = [];
        const c = await t.consume('high', { prefetch: 1 }, async (m) => {
          deliveries.push({ count: m.deliveryCount, at: Date.now() });
          if (m.deliveryCount === 1) m.nak(delayMs);
          else await m.ack();
        });
        await waitFor(() => deliveries.length >= 2, delayMs + ackWaitMs * 4 + grace, 'the redelivery');
        const gap = deliveries[1]!.at - deliveries[0]!.at;
        assert.equal(deliveries[1]!.count, 2);
        assert.ok(gap >= delayMs * 0.9, `redelivered after ${gap} ms, nak delay was ${delayMs} ms`);
        await c.stop();
      }),
    );

    test('a handler that always fails: one dead letter after MaxDeliver, not blocking the tasks behind it', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t, ns) => {
        const published: string[] = [];
        const sub = t.subscribe(ns.subjects.deadLetter('satellite'), (m) => published.push(dec.decode(m.data)));
        await t.flush();
        await t.enqueue('satellite', 'poison-1', task('satellite', 'poison-1', 'contract.poison'));
        const good = ['g1', 'g2', 'g3', 'g4', 'g5'];
        for (const id of good) await t.enqueue('satellite', id, task('satellite', id));
        const acked: string[] = [];
        let poisonDeliveries = 0;
        // prefetch 1: the poison task is at the head and holds the only slot
        // while it fails, and the others must still get through.
        const c = await t.consume('satellite', { prefetch: 1 }, async (m) => {
          if (m.msgId !== 'poison-1') {
            await m.ack();
            acked.push(m.msgId);
            return;
          }
          poisonDeliveries++;
          if (m.deliveryCount >= m.maxDeliver) {
            await m.deadLetter('SW_ERR_HANDLER', `always fails (attempt ${m.deliveryCount})`);
            // Idempotent per (queue, msgId).
            await m.deadLetter('SW_ERR_HANDLER', 'second call');
          } else {
            m.nak(0);
          }
        });
        await waitFor(async () => (await t.deadLetterCount()) >= 1 && acked.length === good.length, 20_000, 'the dead letter and the good tasks');
        await waitFor(async () => (await t.queueStats('satellite')).depth === 0, 5000, 'empty queue');
        await waitFor(() => published.length >= 1, 5000, 'the dead letter on pub/sub');
        await sleep(ackWaitMs + 200);
        assert.deepEqual(acked.sort(), good);
        assert.equal(poisonDeliveries, maxDeliver);
        const dls = await t.deadLetters();
        assert.equal(dls.length, 1, 'exactly one dead letter');
        assert.equal(await t.deadLetterCount(), 1);
        const dl = dls[0]!;
        assert.equal(dl.queue, 'satellite');
        assert.equal(dl.taskId, 'poison-1');
        assert.equal(dl.kind, 'contract.poison');
        assert.equal(dl.code, 'SW_ERR_HANDLER');
        assert.equal(dl.reason, `always fails (attempt ${maxDeliver})`);
        assert.equal(dl.deliveries, maxDeliver);
        assert.ok(!Number.isNaN(Date.parse(dl.failedAt)));
        assert.equal(WorkTaskMessage.decode(Buffer.from(dl.original, 'base64')).id, 'poison-1', 'original bytes kept');
        assert.equal(published.length, 1, 'published once');
        assert.deepEqual(DeadLetterMessage.decode(enc.encode(published[0]!)), dl);
        sub.unsubscribe();
        await c.stop();
      }),
    );

    test('a task never acked exhausts MaxDeliver → dead letter SW_ERR_TIMEOUT by itself', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        await t.enqueue('weather', 'lost-1', task('weather', 'lost-1', 'contract.lost'));
        const counts: number[] = [];
        const c = await t.consume('weather', { prefetch: 1 }, async (m) => {
          counts.push(m.deliveryCount); // never settled
        });
        await waitFor(async () => (await t.deadLetterCount()) >= 1, ackWaitMs * (maxDeliver + 2) + grace * 3, 'the timeout dead letter');
        await waitFor(async () => (await t.queueStats('weather')).depth === 0, 5000, 'empty queue');
        const [dl] = await t.deadLetters();
        assert.equal(dl!.code, 'SW_ERR_TIMEOUT');
        assert.equal(dl!.queue, 'weather');
        assert.equal(dl!.taskId, 'lost-1');
        assert.equal(dl!.kind, 'contract.lost');
        assert.ok(dl!.reason.length > 0);
        assert.deepEqual(counts, Array.from({ length: maxDeliver }, (_, i) => i + 1));
        await sleep(ackWaitMs + 200);
        assert.equal(counts.length, maxDeliver, 'no delivery after MaxDeliver');
        assert.equal(await t.deadLetterCount(), 1);
        await c.stop();
      }),
    );

    test('consumeDeadLetters: every dead letter reaches the feed with how its count is known; a rejected one comes back', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const seen: string[] = [];
        let rejected = false;
        const feed = await t.consumeDeadLetters(async (dl) => {
          seen.push(`${dl.taskId}:${dl.msgId}:${dl.deliveriesFrom}:${dl.deliveries}`);
          if (dl.taskId === 'dl-b' && !rejected) {
            rejected = true;
            throw new Error('database down');
          }
        });
        await t.enqueue('high', 'dl-a', task('high', 'dl-a'));
        await t.enqueue('high', 'dl-b', task('high', 'dl-b'));
        const c = await t.consume('high', { prefetch: 2 }, (m) => m.deadLetter('SW_ERR_SCHEMA', 'bad'));
        await waitFor(() => seen.some((x) => x.startsWith('dl-a')) && seen.filter((x) => x.startsWith('dl-b')).length >= 2, 15_000, 'both dead letters, and dl-b again');
        await c.stop();
        await sleep(300);
        await feed.stop();
        assert.deepEqual(seen.filter((x) => x.startsWith('dl-a')), ['dl-a:dl-a:delivery:1'], 'taken once');
        assert.deepEqual(seen.filter((x) => x.startsWith('dl-b')), ['dl-b:dl-b:delivery:1', 'dl-b:dl-b:delivery:1'], 'rejected, then handed back');
      }),
    );

    test('competing consumers share 200 tasks, each processed once', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const N = 200;
        const processed = new Map<string, number>();
        const by = [0, 0];
        const handler = (who: number) => async (m: WorkMessage) => {
          // A little asynchronous work so both registrations have to take turns.
          await sleep(1 + (m.deliveryCount % 3));
          processed.set(m.msgId, (processed.get(m.msgId) ?? 0) + 1);
          by[who]!++;
          await m.ack();
        };
        const c1 = await t.consume('high', { prefetch: 8 }, handler(0));
        const c2 = await t.consume('high', { prefetch: 8 }, handler(1));
        await Promise.all(Array.from({ length: N }, (_, i) => t.enqueue('high', `cc-${i}`, task('high', `cc-${i}`))));
        await waitFor(() => processed.size >= N, 30_000, `${N} tasks`);
        await waitFor(async () => (await t.queueStats('high')).depth === 0, 5000, 'empty queue');
        assert.equal(processed.size, N);
        assert.ok([...processed.values()].every((n) => n === 1), 'each task processed once');
        assert.ok(by[0]! > 0 && by[1]! > 0, `both consumers got work (${by[0]} / ${by[1]})`);
        await Promise.all([c1.stop(), c2.stop()]);
      }),
    );

    test('prefetch bounds concurrent handler calls', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const prefetch = 3;
        const N = 30;
        let running = 0;
        let peak = 0;
        let done = 0;
        for (let i = 0; i < N; i++) await t.enqueue('weather', `pf-${i}`, task('weather', `pf-${i}`));
        const c = await t.consume('weather', { prefetch }, async (m) => {
          running++;
          peak = Math.max(peak, running);
          await sleep(15);
          running--;
          await m.ack();
          done++;
        });
        await waitFor(() => done >= N, 30_000, `${N} tasks`);
        assert.ok(peak <= prefetch, `peak ${peak} concurrent handler calls, prefetch ${prefetch}`);
        assert.ok(peak >= 2, `handlers ran concurrently (peak ${peak})`);
        await c.stop();
      }),
    );

    test('queueStats depth follows the backlog and returns to 0', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        assert.deepEqual(await t.queueStats('satellite'), { depth: 0, inFlight: 0 });
        for (let i = 0; i < 20; i++) await t.enqueue('satellite', `qs-${i}`, task('satellite', `qs-${i}`));
        await waitFor(async () => (await t.queueStats('satellite')).depth === 20, 5000, 'depth 20');
        assert.equal((await t.queueStats('satellite')).inFlight, 0);
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let acked = 0;
        const c = await t.consume('satellite', { prefetch: 5 }, async (m) => {
          await gate;
          await m.ack();
          acked++;
        });
        await waitFor(async () => (await t.queueStats('satellite')).inFlight === 5, 5000, '5 in flight');
        assert.equal((await t.queueStats('satellite')).depth, 20, 'in-flight tasks still count');
        release();
        await waitFor(() => acked >= 20, 10_000, 'all acked');
        await waitFor(async () => {
          const s = await t.queueStats('satellite');
          return s.depth === 0 && s.inFlight === 0;
        }, 5000, 'depth 0');
        await c.stop();
      }),
    );

    test('KV: create/update compare-and-set, delete, keys/entries by prefix', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t, n) => {
        const kv = await t.kv('leases');
        assert.equal(kv.name, n.buckets.leases);
        assert.equal(await kv.get('shard.1'), null);
        const r1 = await kv.create('shard.1', enc.encode('a'));
        await assert.rejects(kv.create('shard.1', enc.encode('b')), (err) => err instanceof CasConflictError && err.code === 'SW_ERR_CAS_CONFLICT');
        const r2 = await kv.update('shard.1', enc.encode('b'), r1);
        assert.ok(r2 > r1, 'update returns a higher revision');
        await assert.rejects(kv.update('shard.1', enc.encode('c'), r1), CasConflictError);
        const got = await kv.get('shard.1');
        assert.equal(dec.decode(got!.value), 'b');
        assert.equal(got!.revision, r2);

        await assert.rejects(kv.delete('shard.1', r1), CasConflictError);
        await kv.delete('shard.1', r2);
        assert.equal(await kv.get('shard.1'), null);
        const r3 = await kv.create('shard.1', enc.encode('again'));
        assert.ok(r3 > r2, 'create after delete works, with a higher revision');

        const r4 = await kv.put('shard.2', enc.encode('x'));
        assert.ok(r4 > r3);
        await kv.put('shard.10', enc.encode('y'));
        await kv.put('other.1', enc.encode('z'));
        await kv.put('gone.1', enc.encode('z'));
        await kv.delete('gone.1');
        assert.deepEqual((await kv.keys()).sort(), ['other.1', 'shard.1', 'shard.10', 'shard.2']);
        assert.deepEqual((await kv.keys('shard.')).sort(), ['shard.1', 'shard.10', 'shard.2']);
        assert.deepEqual((await kv.keys('shard.1')).sort(), ['shard.1', 'shard.10']);
        const entries = (await kv.entries('shard.')).sort((a, b) => a.key.localeCompare(b.key));
        assert.deepEqual(
          entries.map((e) => [e.key, dec.decode(e.value)]),
          [['shard.1', 'again'], ['shard.10', 'y'], ['shard.2', 'x']],
        );
        assert.equal(entries.find((e) => e.key === 'shard.2')!.revision, r4);
        assert.deepEqual(await kv.entries('none.'), []);

        // Buckets are separate.
        const members = await t.kv('members');
        assert.equal(await members.get('shard.1'), null);
      }),
    );

    test('KV watch sees put, update and delete in order, after the call only', { timeout: TEST_TIMEOUT }, () =>
      withTransport(async (t) => {
        const kv = await t.kv('members');
        await kv.put('node.before', enc.encode('old'));
        const changes: KvChange[] = [];
        const all: KvChange[] = [];
        const sub = await kv.watch((c) => changes.push(c), 'node.');
        const subAll = await kv.watch((c) => all.push(c));
        const r1 = await kv.put('node.a', enc.encode('1'));
        const r2 = await kv.update('node.a', enc.encode('2'), r1);
        await kv.put('else.x', enc.encode('other prefix'));
        await kv.delete('node.a');
        await waitFor(() => changes.length >= 3 && all.length >= 4, 5000, 'watch events');
        await sleep(100);
        assert.equal(changes.length, 3, 'only changes after the call, only under the prefix');
        assert.deepEqual(
          changes.map((c) => [c.key, c.value === null ? null : dec.decode(c.value)]),
          [['node.a', '1'], ['node.a', '2'], ['node.a', null]],
        );
        assert.equal(changes[0]!.revision, r1);
        assert.equal(changes[1]!.revision, r2);
        assert.ok(changes[2]!.revision > r2, 'revisions in order');
        assert.deepEqual(all.map((c) => c.key), ['node.a', 'node.a', 'else.x', 'node.a']);
        sub.unsubscribe();
        subAll.unsubscribe();
        await kv.put('node.b', enc.encode('after'));
        await sleep(200);
        assert.equal(changes.length, 3, 'no events after unsubscribe');
      }),
    );

    test('close(): later calls fail with SW_ERR_CLOSED, a second close is fine, no handles left', { timeout: TEST_TIMEOUT }, async () => {
      // Let anything left by earlier tests settle before taking the baseline.
      await sleep(200);
      const before = resources();
      const fx = await factory(settings);
      try {
        const t = fx.transport;
        await t.provision();
        const ns = fx.names.namespace;
        let statuses = 0;
        t.onStatus(() => statuses++);
        const kv = await t.kv('shards');
        const sub = t.subscribe(`${ns}.close.>`, () => {});
        const got: string[] = [];
        const c = await t.consume('high', { prefetch: 2 }, async (m) => {
          got.push(m.msgId);
          await m.ack();
        });
        await t.enqueue('high', 'c-1', task('high', 'c-1'));
        await waitFor(() => got.length === 1, 10_000, 'one task through');
        await t.close();
        await t.close();
        await assertClosed('publish', () => t.publish(`${ns}.close.x`, enc.encode('x')));
        await assertClosed('subscribe', () => t.subscribe(`${ns}.close.y`, () => {}));
        await assertClosed('enqueue', () => t.enqueue('high', 'c-2', task('high', 'c-2')));
        await assertClosed('consume', () => t.consume('high', { prefetch: 1 }, async () => {}));
        await assertClosed('queueStats', () => t.queueStats('high'));
        await assertClosed('kv', () => t.kv('leases'));
        await assertClosed('kv.put', () => kv.put('k', enc.encode('v')));
        await assertClosed('deadLetters', () => t.deadLetters());
        sub.unsubscribe(); // harmless after close
        await c.stop(); // harmless after close
        assert.ok(statuses >= 0);
        // Every timer and socket the transport opened is gone.
        await waitFor(() => leaked(before).length === 0, 5000, 'handles to close').catch(() => {
          assert.fail(`handles left after close(): ${leaked(before).join(', ')}`);
        });
      } finally {
        await fx.cleanup();
      }
    });
  });
}
