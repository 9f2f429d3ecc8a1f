import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActorSystem, ActorCrashError, type ActorBehaviour, type ActorEscalatedError } from '../../actors/runtime/actor.js';
import { createLogger } from '../../actors/runtime/log.js';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { ClosedError, MailboxFullError, StarWeatherError } from '../../protocol/errors.js';

const logger = createLogger({ nodeId: 'test', level: 'silent' });
const metrics = createMetrics();
after(() => metrics.close());

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  const v = m.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

/** Waits for `cond`, failing after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

interface Counter extends ActorBehaviour<{ op: 'add'; n: number } | { op: 'get' } | { op: 'fail' } | { op: 'crash' } | { op: 'slow'; ms: number }, number> {
  value: number;
}

function counterKind(events: string[]) {
  return (id: string): Counter => {
    const b: Counter = {
      value: 0,
      onStart() {
        events.push(`start ${id}`);
      },
      async onMessage(msg) {
        switch (msg.op) {
          case 'add':
            b.value += msg.n;
            return b.value;
          case 'get':
            return b.value;
          case 'fail':
            throw new Error('bad message');
          case 'crash':
            throw new ActorCrashError('state is broken');
          case 'slow':
            await sleep(msg.ms);
            return b.value;
        }
      },
      onPassivate() {
        events.push(`passivate ${id} ${b.value}`);
      },
      onStop() {
        events.push(`stop ${id}`);
      },
    };
    return b;
  };
}

test('activates on the first message and keeps state between messages', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger, metrics });
  sys.register('counter', { factory: counterKind(events) });
  assert.equal(sys.has('counter/a'), false);
  await sys.tell('counter/a', { op: 'add', n: 2 });
  assert.equal(await sys.ask('counter/a', { op: 'add', n: 3 }), 5);
  assert.equal(sys.has('counter/a'), true);
  assert.equal(sys.count('counter'), 1);
  assert.deepEqual(sys.list(), ['counter/a']);
  assert.deepEqual(events, ['start a']);
  await sys.stopAll();
  assert.deepEqual(events, ['start a', 'stop a']);
});

test('one message at a time per actor, actors run concurrently with each other', async () => {
  let running = 0;
  let maxPerActor = 0;
  const perActor = new Map<string, number>();
  const sys = new ActorSystem({ logger });
  sys.register('w', {
    factory: (id) => ({
      async onMessage() {
        perActor.set(id, (perActor.get(id) ?? 0) + 1);
        maxPerActor = Math.max(maxPerActor, perActor.get(id)!);
        running++;
        await sleep(2);
        running--;
        perActor.set(id, perActor.get(id)! - 1);
      },
    }),
  });
  const asks: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) for (const id of ['x', 'y', 'z']) asks.push(sys.ask(`w/${id}`, i));
  let maxRunning = 0;
  const probe = setInterval(() => (maxRunning = Math.max(maxRunning, running)), 1);
  await Promise.all(asks);
  clearInterval(probe);
  assert.equal(maxPerActor, 1);
  assert.ok(maxRunning >= 2, `actors should overlap (max ${maxRunning})`);
  await sys.stopAll();
});

test('passivates when idle and re-activates with fresh state on the next message', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger, metrics });
  sys.register('pcounter', { factory: counterKind(events), idleMs: 50 });
  await sys.ask('pcounter/p', { op: 'add', n: 7 });
  assert.equal(await metricValue('sw_actors_active', { kind: 'pcounter' }), 1);
  // Messages keep it alive.
  for (let i = 0; i < 5; i++) {
    await sleep(20);
    await sys.ask('pcounter/p', { op: 'get' });
  }
  assert.equal(sys.has('pcounter/p'), true);
  await until(() => !sys.has('pcounter/p'));
  assert.deepEqual(events, ['start p', 'passivate p 7', 'stop p']);
  assert.equal(await metricValue('sw_actors_active', { kind: 'pcounter' }), 0);
  assert.equal(await sys.ask('pcounter/p', { op: 'get' }), 0, 'a fresh activation from the factory');
  assert.deepEqual(events.slice(3), ['start p']);
  await sys.stopAll();
});

test('a message arriving during passivation re-activates the actor after onStop, never alongside', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger });
  sys.register('slowstop', {
    idleMs: 20,
    factory: (id) => ({
      onStart: () => void events.push(`start ${id}`),
      onMessage: (m: string) => void events.push(`msg ${m}`),
      onPassivate: async () => {
        events.push('passivate');
        await sleep(50);
      },
      onStop: () => void events.push('stop'),
    }),
  });
  await sys.tell('slowstop/s', 'one');
  await until(() => events.includes('passivate'));
  await sys.tell('slowstop/s', 'two');
  await until(() => events.includes('msg two'));
  assert.deepEqual(events, ['start s', 'msg one', 'passivate', 'stop', 'start s', 'msg two']);
  await sys.stopAll();
});

test('a throwing handler drops that message, is counted, and the actor keeps its state', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger, metrics });
  sys.register('resumer', { factory: counterKind(events) });
  await sys.ask('resumer/r', { op: 'add', n: 4 });
  await assert.rejects(sys.ask('resumer/r', { op: 'fail' }), /bad message/);
  assert.equal(await sys.ask('resumer/r', { op: 'get' }), 4);
  assert.deepEqual(events, ['start r']);
  assert.equal(await metricValue('sw_actor_failures_total', { kind: 'resumer', directive: 'resume' }), 1);
  await sys.stopAll();
});

test('a crash restarts the actor with fresh state; too many crashes stop it and report it', async () => {
  const events: string[] = [];
  const escalated: ActorEscalatedError[] = [];
  const sys = new ActorSystem({ logger, metrics, onEscalate: (_a, err) => escalated.push(err) });
  sys.register('crasher', { factory: counterKind(events), maxRestarts: 3, restartWindowMs: 10_000 });
  await sys.ask('crasher/c', { op: 'add', n: 9 });
  await assert.rejects(sys.ask('crasher/c', { op: 'crash' }), ActorCrashError);
  assert.equal(await sys.ask('crasher/c', { op: 'get' }), 0, 'state was reset by the restart');
  assert.deepEqual(events, ['start c', 'stop c', 'start c']);
  for (let i = 0; i < 2; i++) await assert.rejects(sys.ask('crasher/c', { op: 'crash' }), ActorCrashError);
  assert.equal(sys.has('crasher/c'), true);
  assert.equal(escalated.length, 0);
  // Fourth crash in the window: more than maxRestarts (3).
  await assert.rejects(sys.ask('crasher/c', { op: 'crash' }), ActorCrashError);
  await until(() => escalated.length === 1);
  assert.equal(escalated[0]!.code, 'SW_ERR_ESCALATED');
  assert.equal(escalated[0]!.address, 'crasher/c');
  assert.equal(sys.has('crasher/c'), false);
  assert.equal(events.filter((e) => e === 'start c').length, 4);
  assert.equal(events.at(-1), 'stop c');
  assert.equal(await metricValue('sw_actor_failures_total', { kind: 'crasher', directive: 'restart' }), 4);
  await sys.stopAll();
});

test('a custom supervise() can stop the actor', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger });
  sys.register('stopper', { factory: counterKind(events), supervise: () => 'stop' });
  await sys.ask('stopper/s', { op: 'add', n: 1 });
  await assert.rejects(sys.ask('stopper/s', { op: 'fail' }));
  await until(() => !sys.has('stopper/s'));
  assert.deepEqual(events, ['start s', 'stop s']);
  await sys.stopAll();
});

test('a failing onStart refuses the message and is retried by the next one', async () => {
  let starts = 0;
  const sys = new ActorSystem({ logger });
  sys.register('flaky', {
    factory: () => ({
      onStart() {
        if (++starts === 1) throw new Error('db not ready');
      },
      onMessage: () => 'ok',
    }),
  });
  await assert.rejects(sys.ask('flaky/f', 1), /db not ready/);
  assert.equal(await sys.ask('flaky/f', 2), 'ok');
  assert.equal(starts, 2);
  await sys.stopAll();
});

test('a full mailbox pushes back: tryTell refuses (counted), tell waits, tell with a timeout rejects', async () => {
  let release!: () => void;
  const blocked = new Promise<void>((r) => (release = r));
  const sys = new ActorSystem({ logger, metrics });
  sys.register('narrow', { mailboxSize: 2, factory: () => ({ onMessage: async (m: number) => (m === 0 ? blocked : undefined) }) });
  await sys.tell('narrow/n', 0);
  await sleep(5);
  assert.equal(sys.tryTell('narrow/n', 1), true);
  assert.equal(sys.tryTell('narrow/n', 2), true);
  assert.equal(sys.tryTell('narrow/n', 3), false);
  await assert.rejects(sys.tell('narrow/n', 4, { timeoutMs: 20 }), MailboxFullError);
  assert.equal(await metricValue('sw_mailbox_rejected_total', { kind: 'narrow' }), 2);
  let waited = false;
  const p = sys.tell('narrow/n', 5).then(() => (waited = true));
  await sleep(20);
  assert.equal(waited, false);
  release();
  await p;
  await sys.stopAll();
});

test('stopAll stops actors in reverse activation order and then refuses messages', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger });
  sys.register('ord', { factory: counterKind(events) });
  for (const id of ['a', 'b', 'c']) await sys.ask(`ord/${id}`, { op: 'get' });
  await sys.stopAll();
  assert.deepEqual(events.filter((e) => e.startsWith('stop')), ['stop c', 'stop b', 'stop a']);
  assert.equal(sys.count(), 0);
  await assert.rejects(sys.tell('ord/a', { op: 'get' }), ClosedError);
});

test('stopAll is bounded in time even if an actor hangs', async () => {
  const sys = new ActorSystem({ logger });
  sys.register('hang', { stopTimeoutMs: 60_000, factory: () => ({ onMessage: () => new Promise(() => {}) }) });
  await sys.tell('hang/h', 'x');
  await sleep(5);
  const t0 = Date.now();
  await sys.stopAll(200);
  assert.ok(Date.now() - t0 < 2000, 'stopAll returned within its bound');
  assert.equal(sys.count(), 0);
});

test('stop() waits for the current message and refuses the ones still queued', async () => {
  const events: string[] = [];
  const sys = new ActorSystem({ logger });
  sys.register('stopme', { factory: counterKind(events) });
  const slow = sys.ask('stopme/s', { op: 'slow', ms: 30 });
  const queued = assert.rejects(sys.ask('stopme/s', { op: 'add', n: 1 }), ClosedError);
  await sleep(5);
  assert.equal(await sys.stop('stopme/s'), true);
  assert.equal(await slow, 0);
  await queued;
  assert.deepEqual(events, ['start s', 'stop s']);
  assert.equal(await sys.stop('stopme/s'), false);
  await sys.stopAll();
});

test('bad addresses and unknown kinds are refused with a clear error', async () => {
  const sys = new ActorSystem({ logger });
  sys.register('k', { factory: () => ({ onMessage: () => {} }) });
  for (const bad of ['', 'noslash', '/id', 'k/', 'Bad/1', `k/${'x'.repeat(201)}`]) {
    await assert.rejects(sys.tell(bad, 1), (err: unknown) => err instanceof StarWeatherError && err.code === 'SW_ERR_INVALID_ARGUMENT', bad);
  }
  await assert.rejects(sys.tell('other/1', 1), (err: unknown) => err instanceof StarWeatherError && err.code === 'SW_ERR_NOT_FOUND');
  assert.throws(() => sys.register('k', { factory: () => ({ onMessage: () => {} }) }), /twice/);
  // An id may contain slashes.
  await sys.tell('k/a/b', 1);
  assert.equal(sys.has('k/a/b'), true);
  await sys.stopAll();
});
