/**
 * R2 (RELIABILITY.md): a worker is SIGKILLed after its database commit and
 * before its ack. The task must be redelivered to another worker and
 * completed, with its effect in PostgreSQL exactly once; at the end every
 * task is done and nothing is pending. NATS only: the embedded bus lives and
 * dies with its process, so there is no other worker to redeliver to.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import type { Transport } from '../../protocol/transport.js';
import { NATS_URL, deleteNamespace, fastTopology, freshNames, waitFor } from '../integration/nats-fixtures.js';

const DATABASE_URL = process.env.SW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHILD = fileURLToPath(new URL('../helpers/worker-child.js', import.meta.url));

interface Child {
  proc: ChildProcess;
  stderr(): string;
  messages: Array<Record<string, unknown>>;
  exited: Promise<void>;
}

const children: Child[] = [];
after(() => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

function startChild(env: Record<string, string>): Child {
  const proc = fork(CHILD, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const messages: Array<Record<string, unknown>> = [];
  proc.on('message', (m) => messages.push(m as Record<string, unknown>));
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL') process.stderr.write(`# worker child ${proc.pid} exited ${code ?? signal}: ${stderr}\n`);
      resolve();
    }),
  );
  const child = { proc, messages, exited, stderr: () => stderr };
  children.push(child);
  return child;
}

test('R2: SIGKILL after the commit and before the ack: redelivered elsewhere, effect exactly once, nothing pending', { timeout: 120_000 }, async () => {
  const n = freshNames();
  const table = `sw_chaos_${randomBytes(5).toString('hex')}`;
  const settings = fastTopology({ ackWaitMs: 2000, maxDeliver: 5 });
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  let transport: Transport | null = null;
  try {
    await db.query(`CREATE TABLE ${table} (task_id text PRIMARY KEY, pid integer NOT NULL, delivery integer NOT NULL)`);
    await db.query(`CREATE TABLE ${table}_attempts (task_id text NOT NULL, pid integer NOT NULL, delivery integer NOT NULL)`);
    transport = await connectNats({ servers: NATS_URL, names: n, topology: settings, name: `chaos-${n.namespace}` });
    await transport.provision();
    const ids = Array.from({ length: 40 }, (_, i) => `effect-${i}`);
    await Promise.all(ids.map((id, i) => enqueueTask(transport!, { queue: 'satellite', id, kind: 'effect', payload: { n: i } })));

    const env = {
      NATS_URL,
      DATABASE_URL,
      SW_CHILD_NAMESPACE: n.namespace,
      SW_CHILD_ACK_WAIT_MS: String(settings.ackWaitMs),
      SW_CHILD_MAX_DELIVER: String(settings.maxDeliver),
      SW_CHILD_TABLE: table,
    };
    // The victim starts alone so it surely takes tasks; the survivor joins
    // once the victim sits between its commit and its ack.
    const victim = startChild({ ...env, SW_CHILD_HANG_AFTER: '3' });
    const committed = await waitFor('the victim committed its hanging task', 20_000, () => victim.messages.find((m) => m.type === 'committed')).catch((err) => {
      throw new Error(`${(err as Error).message}; victim said ${JSON.stringify(victim.messages)}, stderr: ${victim.stderr().slice(-2000)}`);
    });
    const survivor = startChild(env);
    await waitFor('the survivor is ready', 20_000, () => survivor.messages.some((m) => m.type === 'ready'));
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const killedId = String(committed.id);
    const killedPid = victim.proc.pid!;

    // Done means: every task's effect is in the table and the queue is empty.
    await waitFor('all tasks done and nothing pending', 60_000, async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS c FROM ${table}`);
      const stats = await transport!.queueStats('satellite');
      return rows[0].c === ids.length && stats.depth === 0 && stats.inFlight === 0;
    }, 200);

    const { rows } = await db.query(`SELECT task_id, count(*)::int AS c FROM ${table} GROUP BY task_id ORDER BY task_id`);
    assert.equal(rows.length, ids.length);
    assert.deepEqual(rows.map((r) => r.task_id).sort(), [...ids].sort());
    for (const r of rows) assert.equal(r.c, 1, `exactly one row for ${r.task_id}`);

    const attempts = await db.query(`SELECT pid, delivery FROM ${table}_attempts WHERE task_id = $1 ORDER BY delivery`, [killedId]);
    assert.ok(attempts.rows.length >= 2, `the killed task ran again: ${JSON.stringify(attempts.rows)}`);
    assert.equal(attempts.rows[0].pid, killedPid);
    const redelivered = attempts.rows.find((a) => a.pid === survivor.proc.pid);
    assert.ok(redelivered, 'another worker took the killed task over');
    assert.ok(redelivered.delivery >= 2, 'it came back as a redelivery');
    const row = await db.query(`SELECT pid FROM ${table} WHERE task_id = $1`, [killedId]);
    assert.equal(row.rows[0].pid, killedPid, 'the effect committed before the kill is the one that stands');

    assert.equal(await transport.deadLetterCount(), 0);
    const total = await db.query(`SELECT count(*)::int AS c FROM ${table}_attempts`);
    console.log(`# R2: ${ids.length} tasks, ${total.rows[0].c} handler runs, killed task ${killedId} ran ${attempts.rows.length} times`);

    survivor.proc.kill('SIGTERM');
    await Promise.race([survivor.exited, new Promise((r) => setTimeout(r, 10_000))]);
    assert.equal(survivor.proc.exitCode, 0, 'the survivor drained and exited cleanly on SIGTERM');
  } finally {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await db.query(`DROP TABLE IF EXISTS ${table}, ${table}_attempts`).catch(() => undefined);
    await db.end();
    await transport?.close().catch(() => undefined);
    await deleteNamespace(NATS_URL, n);
  }
});
