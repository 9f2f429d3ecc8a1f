import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Mailbox } from '../../actors/runtime/mailbox.js';
import { ClosedError, MailboxFullError } from '../../protocol/errors.js';

/** A gate the test opens by hand, to hold a message "in processing". */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

test('processes messages one at a time, in FIFO order', async () => {
  const seen: number[] = [];
  let running = 0;
  let maxRunning = 0;
  const mb = new Mailbox<number>({
    address: 'test/1',
    capacity: 100,
    async process(n) {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(n % 3);
      seen.push(n);
      running--;
    },
  });
  for (let i = 0; i < 50; i++) assert.equal(mb.trySend(i), true);
  await mb.idle();
  assert.deepEqual(seen, [...Array(50).keys()]);
  assert.equal(maxRunning, 1);
});

test('trySend refuses when full and reports it; capacity excludes the running message', async () => {
  const g = gate();
  const rejected: Array<[number, string]> = [];
  const processed: number[] = [];
  const mb = new Mailbox<number>({
    address: 'test/2',
    capacity: 2,
    async process(n) {
      if (n === 0) await g.wait;
      processed.push(n);
    },
    onRejected: (m, reason) => rejected.push([m, reason]),
  });
  assert.equal(mb.trySend(0), true);
  await sleep(0); // 0 starts and blocks on the gate
  assert.equal(mb.busy, true);
  assert.equal(mb.trySend(1), true);
  assert.equal(mb.trySend(2), true);
  assert.equal(mb.size, 2);
  assert.equal(mb.trySend(3), false);
  assert.deepEqual(rejected, [[3, 'full']]);
  g.open();
  await mb.idle();
  assert.deepEqual(processed, [0, 1, 2]);
});

test('send waits while full, then enqueues in the order senders arrived', async () => {
  const g = gate();
  const processed: number[] = [];
  const mb = new Mailbox<number>({
    address: 'test/3',
    capacity: 1,
    async process(n) {
      if (n === 0) await g.wait;
      processed.push(n);
    },
  });
  await mb.send(0);
  await sleep(0);
  await mb.send(1); // fills the one slot
  let resolved2 = false;
  let resolved3 = false;
  const p2 = mb.send(2).then(() => (resolved2 = true));
  const p3 = mb.send(3).then(() => (resolved3 = true));
  await sleep(20);
  assert.equal(resolved2, false, 'send must wait while the mailbox is full');
  assert.equal(resolved3, false);
  assert.equal(mb.waiting, 2);
  // A non-blocking sender must not jump the queue of waiting senders.
  assert.equal(mb.trySend(99), false);
  g.open();
  await Promise.all([p2, p3]);
  await mb.idle();
  assert.deepEqual(processed, [0, 1, 2, 3]);
});

test('send rejects with MailboxFullError after its timeout, and is counted', async () => {
  const g = gate();
  const rejected: string[] = [];
  const mb = new Mailbox<number>({
    address: 'test/4',
    capacity: 1,
    process: async () => g.wait,
    onRejected: (_m, reason) => rejected.push(reason),
  });
  await mb.send(0);
  await sleep(0);
  await mb.send(1);
  await assert.rejects(mb.send(2, { timeoutMs: 30 }), (err: unknown) => err instanceof MailboxFullError && err.code === 'SW_ERR_MAILBOX_FULL');
  assert.deepEqual(rejected, ['timeout']);
  assert.equal(mb.waiting, 0);
  g.open();
  await mb.idle();
});

test('a failing message is reported and the next one still runs', async () => {
  const errors: string[] = [];
  const processed: number[] = [];
  const mb = new Mailbox<number>({
    address: 'test/5',
    capacity: 10,
    process(n) {
      if (n === 1) throw new Error('boom');
      processed.push(n);
    },
    onError: (err) => errors.push((err as Error).message),
  });
  mb.trySend(0);
  mb.trySend(1);
  mb.trySend(2);
  await mb.idle();
  assert.deepEqual(processed, [0, 2]);
  assert.deepEqual(errors, ['boom']);
});

test('close refuses new messages, rejects blocked senders and returns the unstarted ones', async () => {
  const g = gate();
  const processed: number[] = [];
  const mb = new Mailbox<number>({
    address: 'test/6',
    capacity: 1,
    async process(n) {
      if (n === 0) await g.wait;
      processed.push(n);
    },
  });
  await mb.send(0);
  await sleep(0);
  await mb.send(1);
  const blocked = mb.send(2);
  const dropped = mb.close();
  assert.deepEqual(dropped, [1]);
  await assert.rejects(blocked, ClosedError);
  await assert.rejects(mb.send(3), ClosedError);
  assert.equal(mb.trySend(4), false);
  g.open();
  await mb.idle();
  assert.deepEqual(processed, [0]);
});

test('rejects a capacity below 1', () => {
  assert.throws(() => new Mailbox<number>({ address: 'x/1', capacity: 0, process: () => {} }), RangeError);
});
