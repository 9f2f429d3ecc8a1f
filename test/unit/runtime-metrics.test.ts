import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { createLogger } from '../../actors/runtime/log.js';
import { retryDelay } from '../../actors/runtime/worker.js';

test('the registry carries every standard instrument, and two registries do not clash', async () => {
  const a = createMetrics();
  const b = createMetrics();
  try {
    a.messagesRejected.inc({ where: 'worker', code: 'SW_ERR_DECODE' });
    a.tasks.inc({ queue: 'high', kind: 'k', outcome: 'ok' });
    a.taskDuration.observe({ queue: 'high' }, 0.2);
    a.deadLetters.inc({ queue: 'high', code: 'SW_ERR_HANDLER' });
    a.mailboxRejected.inc({ kind: 'tracker' });
    a.actorsActive.set({ kind: 'tracker' }, 3);
    const text = await a.registry.metrics();
    for (const name of [
      'sw_messages_rejected_total{where="worker",code="SW_ERR_DECODE"} 1',
      'sw_tasks_total{queue="high",kind="k",outcome="ok"} 1',
      'sw_task_duration_seconds_count{queue="high"} 1',
      'sw_dead_letters_total{queue="high",code="SW_ERR_HANDLER"} 1',
      'sw_mailbox_rejected_total{kind="tracker"} 1',
      'sw_actors_active{kind="tracker"} 3',
      'sw_event_loop_delay_p99_seconds',
    ]) {
      assert.ok(text.includes(name), `missing ${name}`);
    }
    assert.ok(!(await b.registry.metrics()).includes('sw_tasks_total{'), 'registries are separate');
  } finally {
    a.close();
    b.close();
  }
});

test('event-loop p99 sees a blocked loop and reads near zero when idle', async () => {
  const m = createMetrics({ eventLoopResolutionMs: 5 });
  try {
    await sleep(50);
    m.eventLoop.reset();
    for (let i = 0; i < 4; i++) {
      const end = Date.now() + 120;
      while (Date.now() < end) {
        // block the loop on purpose
      }
      await sleep(10);
    }
    const blocked = m.eventLoop.p99Seconds();
    assert.ok(blocked >= 0.08, `p99 after 120 ms stalls: ${blocked}`);
    const gauge = await m.registry.getSingleMetric('sw_event_loop_delay_p99_seconds')!.get();
    assert.ok(gauge.values[0]!.value >= 0.08);
  } finally {
    m.close();
  }
});

test('retryDelay doubles per delivery, is capped, and jitters within [d/2, d]', () => {
  assert.equal(retryDelay(100, 1, 60_000, () => 1), 100);
  assert.equal(retryDelay(100, 1, 60_000, () => 0), 50);
  assert.equal(retryDelay(100, 2, 60_000, () => 1), 200);
  assert.equal(retryDelay(100, 4, 60_000, () => 1), 800);
  assert.equal(retryDelay(100, 30, 5000, () => 1), 5000);
  assert.equal(retryDelay(100, 1000, 5000, () => 0), 2500);
  assert.equal(retryDelay(0, 3, 5000), 0);
  for (let i = 0; i < 100; i++) {
    const d = retryDelay(1000, 3, 60_000);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

test('the logger binds node and role, and child loggers add actor and host', () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ nodeId: 'n1', role: 'worker', level: 'info', destination: sink });
  log.child({ host: 'h1' }).child({ actor: 'tracker/25544' }).info('hello');
  log.debug('not shown');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.node, 'n1');
  assert.equal(lines[0]!.role, 'worker');
  assert.equal(lines[0]!.host, 'h1');
  assert.equal(lines[0]!.actor, 'tracker/25544');
  assert.equal(lines[0]!.msg, 'hello');
});
