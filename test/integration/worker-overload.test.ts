/**
 * Degrade, don't collapse (worker side): while the loop delay is above
 * shedLagMs a worker runs weather tasks one at a time, above 4x it satellite
 * tasks too, and never holds high; once the delay falls (two calm windows)
 * the held tasks run at full concurrency. The delay is injected, the work is
 * real tasks on the embedded bus.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { createLogger } from '../../actors/runtime/log.js';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { TaskWorker, enqueueTask } from '../../actors/runtime/worker.js';
import { defineMessage } from '../../protocol/message.js';
import { freshNames } from './nats-fixtures.js';

const Hold = defineMessage({
  name: 'test.hold',
  version: 1,
  description: 'Test-only task: wait until released.',
  encoding: 'json',
  schema: Type.Object({ n: Type.Integer() }, { additionalProperties: false }),
  subjects: 'work queues (tests only)',
});

const metrics = createMetrics({ defaultLabels: { node: 't' } });
after(() => metrics.close());

test('overload holds weather to one running task, then satellite too; high is never held; held tasks start once calm', async () => {
  const transport = new EmbeddedTransport({ names: freshNames() });
  await transport.provision();
  let lag = 0;
  const running = { high: 0, satellite: 0, weather: 0 };
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const worker = new TaskWorker({
    transport,
    logger: createLogger({ nodeId: 't', level: 'silent', destination: 2 }),
    metrics,
    concurrency: 12,
    prefetch: 8,
    retryDelayMs: 10,
    ackWaitMs: 30_000,
    shedLagMs: 100,
    loopDelayMs: () => lag,
  });
  worker.register('test.hold', {
    payload: Hold,
    async handle(_p, ctx) {
      const q = ctx.task.queue;
      running[q]++;
      await gate;
      running[q]--;
    },
  });
  await worker.start();
  try {
    lag = 500; // above 4x shedLagMs: weather and satellite held
    assert.equal(worker.assessLoad(), 2);
    for (const queue of ['high', 'satellite', 'weather'] as const) {
      for (let i = 0; i < 4; i++) await enqueueTask(transport, { queue, id: `${queue}-${i}`, kind: 'test.hold', payload: { n: i } });
    }
    await sleep(300);
    assert.deepEqual(running, { high: 4, satellite: 1, weather: 1 }, 'high runs in full, the lower queues one at a time');
    // Calm again: two calm windows release the held tasks.
    lag = 0;
    worker.assessLoad();
    assert.equal(worker.stats().overload, 2, 'one calm window is not enough');
    assert.equal(worker.assessLoad(), 0);
    await sleep(300);
    assert.deepEqual(running, { high: 4, satellite: 4, weather: 4 }, 'every held task started');
    release();
    gate = Promise.resolve();
    await sleep(200);
    assert.equal(worker.stats().processed, 12, 'all done, nothing lost');
  } finally {
    release();
    await worker.drain(1000);
    await transport.close();
  }
});
