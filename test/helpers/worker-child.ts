/**
 * Child-process entry for the worker chaos test (not a test file): a
 * TaskWorker on NATS whose `effect` handler commits a row to PostgreSQL
 * (idempotent on the task id) before the worker acks. With
 * SW_CHILD_HANG_AFTER=k, the k-th task this process handles hangs right after
 * its commit, before the ack, and tells the parent over IPC, so the parent
 * can SIGKILL it exactly in the R2 window.
 *
 * Env: NATS_URL, SW_CHILD_NAMESPACE, SW_CHILD_ACK_WAIT_MS, SW_CHILD_MAX_DELIVER,
 *      SW_CHILD_TABLE, DATABASE_URL, SW_CHILD_HANG_AFTER (optional).
 */
import pg from 'pg';
import { Type } from '@sinclair/typebox';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { createLogger } from '../../actors/runtime/log.js';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { TaskWorker } from '../../actors/runtime/worker.js';
import { defineMessage } from '../../protocol/message.js';
import { names } from '../../protocol/names.js';
import { DEFAULT_TOPOLOGY } from '../../protocol/topology.js';

export const EffectPayload = defineMessage({
  name: 'test.chaos-effect',
  version: 1,
  description: 'Payload of the worker chaos test',
  encoding: 'json',
  schema: Type.Object({ n: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  subjects: 'test only',
});

function env(key: string): string {
  const v = process.env[key];
  if (!v) throw new Error(`worker-child: ${key} is required`);
  return v;
}

async function main(): Promise<void> {
  const table = env('SW_CHILD_TABLE');
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(table)) throw new Error(`bad table name ${table}`);
  const ackWaitMs = Number(env('SW_CHILD_ACK_WAIT_MS'));
  const hangAfter = Number(process.env.SW_CHILD_HANG_AFTER ?? '0');
  const logger = createLogger({ nodeId: `worker-child-${process.pid}`, role: 'worker', level: process.env.SW_CHILD_LOG_LEVEL === 'debug' ? 'debug' : 'warn', destination: 2 });
  const metrics = createMetrics();
  const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 4 });
  const transport = await connectNats({
    servers: env('NATS_URL'),
    names: names(env('SW_CHILD_NAMESPACE')),
    topology: { ...DEFAULT_TOPOLOGY, ackWaitMs, maxDeliver: Number(env('SW_CHILD_MAX_DELIVER')), deadLetterMaxAgeMs: 3600_000 },
    name: `worker-child-${process.pid}`,
  });
  const worker = new TaskWorker({ transport, logger, metrics, concurrency: 2, prefetch: 4, retryDelayMs: 50, ackWaitMs });
  let handled = 0;
  worker.register('effect', {
    payload: EffectPayload,
    handle: async (_payload, ctx) => {
      // Counted at the start: other tasks run alongside and move `handled` on.
      const nth = ++handled;
      ctx.log.debug({ nth, delivery: ctx.deliveryCount }, 'effect task');
      await pool.query(`INSERT INTO ${table}_attempts (task_id, pid, delivery) VALUES ($1, $2, $3)`, [ctx.task.id, process.pid, ctx.deliveryCount]);
      // The effect: idempotent on the task id, so a redelivery cannot double it.
      await pool.query(`INSERT INTO ${table} (task_id, pid, delivery) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO NOTHING`, [ctx.task.id, process.pid, ctx.deliveryCount]);
      if (nth === hangAfter) {
        process.send?.({ type: 'committed', id: ctx.task.id, delivery: ctx.deliveryCount });
        // Committed, not acked: wait here for the parent's SIGKILL.
        await new Promise(() => {});
      }
      await new Promise((r) => setTimeout(r, 10));
    },
  });
  await worker.start();
  process.send?.({ type: 'ready', pid: process.pid });
  process.once('SIGTERM', () => {
    void (async () => {
      await worker.drain(5000);
      await transport.close();
      await pool.end();
      metrics.close();
      process.exit(0);
    })();
  });
}

main().catch((err) => {
  process.stderr.write(`worker-child failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
