/**
 * The supervisor against real child processes (test/fixtures/child-behaviour):
 * restart after SIGKILL within the backoff bound, hung children killed and
 * restarted, invalid IPC ignored, reverse-order drain, shutdown timeout.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { Supervisor, type SupervisorOptions } from '../../supervisor/supervisor.js';
import { backoffBound, type BackoffPolicy } from '../../supervisor/backoff.js';
import type { ChildSpec, RestartType } from '../../supervisor/child-spec.js';
import { isAlive, waitFor } from '../helpers/processes.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'child-behaviour.js');
const BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 1000, jitter: 'full' };
// Forking node and loading a module takes well under a second here; 3 s
// leaves room for a loaded 2-core machine without hiding a missed restart.
const STARTUP_ALLOWANCE_MS = 3000;

const live: Supervisor[] = [];
after(async () => {
  await Promise.all(live.map((s) => s.stop()));
});

function child(id: string, mode: string, opts: { restart?: RestartType; shutdownTimeoutMs?: number; env?: Record<string, string> } = {}): ChildSpec {
  return {
    id,
    role: 'worker',
    restart: opts.restart ?? 'permanent',
    shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 2000,
    start: { mode: 'process', module: FIXTURE, args: [mode], env: opts.env ?? {} },
  };
}

function supervisor(children: ChildSpec[], extra: Partial<SupervisorOptions> = {}): Supervisor {
  const s = new Supervisor({ nodeId: 'test', children, maxRestarts: 5, restartWindowMs: 30_000, backoff: BACKOFF, hangTimeoutMs: 1500, ...extra });
  live.push(s);
  return s;
}

function nextHeartbeatFrom(s: Supervisor, notPid: number, timeoutMs: number): Promise<{ pid: number; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.off('heartbeat', on);
      reject(new Error(`no heartbeat from a new process within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (e: { pid: number }) => {
      if (e.pid === notPid) return;
      clearTimeout(timer);
      s.off('heartbeat', on);
      resolve({ pid: e.pid, at: Date.now() });
    };
    s.on('heartbeat', on);
  });
}

test('a SIGKILLed child is restarted within its backoff bound', async () => {
  const registry = new Registry();
  const s = supervisor([child('a', 'ok')], { registry });
  await s.start();
  const before = s.status()[0]!;
  assert.equal(before.state, 'running');
  const oldPid = before.pid!;
  const next = nextHeartbeatFrom(s, oldPid, 10_000);
  const killedAt = Date.now();
  process.kill(oldPid, 'SIGKILL');
  const { pid, at } = await next;
  const elapsed = at - killedAt;
  // First restart of this child: attempt 0.
  const bound = backoffBound(BACKOFF, 0);
  console.log(`restart after SIGKILL: ${elapsed} ms (backoff bound ${bound} ms + startup)`);
  assert.ok(elapsed <= bound + STARTUP_ALLOWANCE_MS, `restart took ${elapsed} ms`);
  assert.notEqual(pid, oldPid);
  assert.equal(isAlive(oldPid), false);
  const after1 = s.status()[0]!;
  assert.equal(after1.restarts, 1);
  assert.equal(after1.lastExit?.signal, 'SIGKILL');
  assert.equal(after1.lastExit?.reason, 'exit');
  const text = await registry.metrics();
  assert.match(text, /sw_supervisor_restarts_total\{child="a",role="worker"\} 1/);
  assert.match(text, /sw_supervisor_child_up\{child="a",role="worker"\} 1/);
  const outcome = await s.stop();
  assert.equal(outcome.code, 0);
  assert.equal(isAlive(pid), false);
});

test('a hung child (no heartbeats) is SIGKILLed and restarted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-hang-'));
  try {
    const s = supervisor([child('h', 'hang-once', { env: { FIXTURE_STATE_FILE: join(dir, 'hung') } })]);
    const hung = new Promise<{ pid: number }>((resolve) => s.once('child-hung', resolve));
    await s.start();
    const oldPid = s.status()[0]!.pid!;
    const next = nextHeartbeatFrom(s, oldPid, 15_000);
    const h = await hung;
    assert.equal(h.pid, oldPid);
    await next;
    const st = s.status()[0]!;
    assert.equal(st.restarts, 1);
    assert.equal(st.lastExit?.reason, 'hung');
    assert.equal(st.lastExit?.signal, 'SIGKILL');
    assert.equal(isAlive(oldPid), false);
    assert.equal((await s.stop()).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalid IPC messages are counted and ignored', async () => {
  const registry = new Registry();
  const s = supervisor([child('g', 'garbage')], { registry });
  await s.start();
  await waitFor(() => s.invalidMessages >= 4, 5000);
  assert.equal(s.invalidMessages, 4);
  const st = s.status()[0]!;
  assert.equal(st.state, 'running');
  assert.equal(st.restarts, 0);
  assert.match(await registry.metrics(), /sw_supervisor_invalid_messages_total\{child="g"\} 4/);
  assert.equal((await s.stop()).code, 0);
});

test('children start in order and drain in reverse order, exit 0 each', async () => {
  const s = supervisor([child('first', 'ok'), child('second', 'ok'), child('third', 'ok')]);
  const starts: string[] = [];
  const exits: Array<{ id: string; code: number | null; reason: string }> = [];
  s.on('child-start', (e: { id: string }) => starts.push(e.id));
  s.on('child-exit', (e: { id: string; code: number | null; reason: string }) => exits.push(e));
  await s.start();
  const pids = s.status().map((c) => c.pid!);
  const outcome = await s.stop();
  assert.deepEqual(starts, ['first', 'second', 'third']);
  assert.deepEqual(exits.map((e) => e.id), ['third', 'second', 'first']);
  assert.ok(exits.every((e) => e.code === 0 && e.reason === 'shutdown'));
  assert.deepEqual(outcome, { code: 0, reason: 'stopped', detail: 'stop requested' });
  for (const pid of pids) assert.equal(isAlive(pid), false);
});

test('a child that ignores drain is SIGKILLed after its shutdown timeout; the stop is unclean', async () => {
  const s = supervisor([child('stubborn', 'ignore-drain', { shutdownTimeoutMs: 500 })]);
  await s.start();
  const pid = s.status()[0]!.pid!;
  const t0 = Date.now();
  const outcome = await s.stop();
  const took = Date.now() - t0;
  assert.ok(took >= 500, `stopped after ${took} ms, before its shutdown timeout`);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.reason, 'unclean-stop');
  assert.equal(s.status()[0]!.lastExit?.reason, 'shutdown-timeout');
  assert.equal(s.status()[0]!.lastExit?.signal, 'SIGKILL');
  assert.equal(isAlive(pid), false);
});

test('restart types: temporary is never restarted, transient only after an abnormal exit', async () => {
  const s = supervisor([child('temp', 'crash-at-start', { restart: 'temporary' }), child('trans', 'crash-at-start', { restart: 'transient' })], { maxRestarts: 2 });
  const escalated = new Promise((resolve) => s.once('escalate', resolve));
  await s.start();
  await escalated;
  const outcome = await s.done;
  const [temp, trans] = s.status();
  assert.equal(temp!.restarts, 0);
  assert.equal(temp!.state, 'failed');
  // Transient after abnormal exits: restarted until intensity ran out.
  assert.equal(trans!.restarts, 2);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.reason, 'escalated');
});
