/**
 * Busy is not dead (supervisor side). Real forked children run the real
 * liveness thread (test/fixtures/child-behaviour busy|spin): a child whose
 * loop is blocked for 3× the heartbeat timeout keeps beating and is only
 * reported slow; a child in an infinite loop is killed for no progress; a
 * SIGSTOPped child is killed for no beats; both are back within 10 s. A
 * negative control shows that the old rule (IPC heartbeat silence) kills the
 * busy child. Inline children share the supervisor's loop: a stall of that
 * loop is credited to nobody, while an inline child that really stops
 * heartbeating is still caught.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { Supervisor, type SupervisorOptions } from '../../supervisor/supervisor.js';
import type { BackoffPolicy } from '../../supervisor/backoff.js';
import type { ChildSpec, InlineChild } from '../../supervisor/child-spec.js';
import { isAlive, waitFor } from '../helpers/processes.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'child-behaviour.js');
const BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 500, jitter: 'full' };
const HEARTBEAT_TIMEOUT_MS = 1000;

const live: Supervisor[] = [];
const dir = mkdtempSync(join(tmpdir(), 'sw-liveness-'));
after(async () => {
  await Promise.all(live.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function child(id: string, mode: string, env: Record<string, string> = {}): ChildSpec {
  return { id, role: 'worker', restart: 'permanent', shutdownTimeoutMs: 2000, start: { mode: 'process', module: FIXTURE, args: [mode], env: { FIXTURE_HEARTBEAT_MS: '200', ...env } } };
}

function supervisor(children: ChildSpec[], extra: Partial<SupervisorOptions> = {}): Supervisor {
  const s = new Supervisor({ nodeId: 'live', children, maxRestarts: 5, restartWindowMs: 30_000, backoff: BACKOFF, hangTimeoutMs: 8000, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, slowLagMs: 500, ...extra });
  live.push(s);
  return s;
}

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // synchronous: the supervisor's own loop stands still
  }
}

test('a forked child busy for 3× the heartbeat timeout keeps beating, is reported slow and is not killed', async () => {
  const marker = join(dir, 'busy');
  const registry = new Registry();
  const s = supervisor([child('b', 'busy', { FIXTURE_BUSY_MS: String(3 * HEARTBEAT_TIMEOUT_MS), FIXTURE_STATE_FILE: marker })], { registry });
  const hung: unknown[] = [];
  s.on('child-hung', (e) => hung.push(e));
  await s.start();
  const pid = s.status()[0]!.pid!;
  assert.ok(await waitFor(() => existsSync(marker) && readFileSync(marker, 'utf8').startsWith('busy'), 10_000), 'the child started its busy stretch');
  // While its loop is blocked, beats keep arriving and say how long it has stalled.
  let sawSlow = false;
  let maxStalled = 0;
  const beatTimes = new Set<number>();
  await waitFor(() => {
    const st = s.status()[0]!;
    if (st.slow) sawSlow = true;
    maxStalled = Math.max(maxStalled, st.stalledMs);
    if (st.lastBeatAt !== null) beatTimes.add(st.lastBeatAt);
    return readFileSync(marker, 'utf8').startsWith('done');
  }, 15_000, 25);
  // Let a few more checks run after the stretch, as a hang check would.
  await new Promise((r) => setTimeout(r, 1500));
  const st = s.status()[0]!;
  console.log(`busy child: stalled up to ${maxStalled} ms, ${beatTimes.size} distinct beats seen, slow=${sawSlow}, kills=${hung.length}`);
  assert.deepEqual(hung, [], 'no hung kill');
  assert.equal(st.pid, pid, 'same process');
  assert.equal(st.restarts, 0);
  assert.equal(isAlive(pid), true);
  assert.ok(maxStalled > 2 * HEARTBEAT_TIMEOUT_MS, `the beats reported the stall (max ${maxStalled} ms)`);
  assert.ok(beatTimes.size >= 8, `beats kept coming during the stall (${beatTimes.size})`);
  assert.ok(sawSlow, 'reported slow meanwhile');
  assert.doesNotMatch(await registry.metrics(), /sw_supervisor_hung_kills_total\{[^}]*\} [1-9]/);
  assert.equal((await s.stop()).code, 0);
});

test('negative control: judged by IPC heartbeat silence alone (no liveness thread), the same busy child is killed', async () => {
  const marker = join(dir, 'busy-legacy');
  // hang-once blocks forever without a liveness thread; the old rule must catch it as silence.
  const s = supervisor([child('l', 'hang-once', { FIXTURE_STATE_FILE: marker })], { hangTimeoutMs: 1500 });
  const hung = new Promise<{ cause: string }>((resolve) => s.once('child-hung', resolve));
  await s.start();
  const e = await hung;
  assert.equal(e.cause, 'no_heartbeat');
  await s.stop();
});

test('a child in an infinite loop is killed for no progress and is back within 10 s', async () => {
  const marker = join(dir, 'spin');
  const registry = new Registry();
  const s = supervisor([child('s', 'spin', { FIXTURE_STATE_FILE: marker })], { hangTimeoutMs: 3000, registry });
  const hung = new Promise<{ cause: string; pid: number }>((resolve) => s.once('child-hung', resolve));
  await s.start();
  const oldPid = s.status()[0]!.pid!;
  assert.ok(await waitFor(() => existsSync(marker), 10_000), 'the child entered its loop');
  const spunAt = Date.now();
  const e = await hung;
  assert.equal(e.cause, 'no_progress');
  assert.ok(await waitFor(() => s.status()[0]!.pid !== oldPid && s.status()[0]!.state === 'running', 10_000), 'restarted');
  const back = Date.now() - spunAt;
  console.log(`infinite loop: killed (no_progress) and running again after ${back} ms`);
  assert.ok(back <= 10_000, `back after ${back} ms`);
  assert.equal(s.status()[0]!.lastExit?.hangCause, 'no_progress');
  assert.match(await registry.metrics(), /sw_supervisor_hung_kills_total\{child="s",role="worker",cause="no_progress"\} 1/);
  assert.equal(isAlive(oldPid), false);
  await s.stop();
});

test('a SIGSTOPped child is killed for no beats and is back within 10 s', async () => {
  const s = supervisor([child('p', 'busy', { FIXTURE_BUSY_MS: '0' })]);
  const hung = new Promise<{ cause: string }>((resolve) => s.once('child-hung', resolve));
  await s.start();
  const oldPid = s.status()[0]!.pid!;
  assert.ok(await waitFor(() => s.status()[0]!.lastBeatAt !== null, 5000), 'its liveness thread beats');
  const stoppedAt = Date.now();
  process.kill(oldPid, 'SIGSTOP');
  try {
    const e = await hung;
    assert.equal(e.cause, 'no_beats');
    assert.ok(await waitFor(() => s.status()[0]!.pid !== oldPid && s.status()[0]!.state === 'running', 10_000), 'restarted');
    const back = Date.now() - stoppedAt;
    console.log(`SIGSTOP: killed (no_beats) and running again after ${back} ms`);
    assert.ok(back <= 10_000, `back after ${back} ms`);
  } finally {
    if (isAlive(oldPid)) process.kill(oldPid, 'SIGKILL');
  }
  await s.stop();
});

function inlineChild(send: (m: unknown) => void, hostId: string, beat: { on: boolean }): InlineChild {
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  const timer = setInterval(() => {
    if (beat.on) send({ v: 1, type: 'heartbeat', hostId, actors: 0, inFlight: 0, eventLoopP99Ms: 0 });
  }, 100);
  send({ v: 1, type: 'heartbeat', hostId, actors: 0, inFlight: 0, eventLoopP99Ms: 0 });
  return {
    command: (c) => {
      if (c.type === 'drain') {
        clearInterval(timer);
        resolveExit(0);
      }
    },
    kill: () => {
      clearInterval(timer);
      resolveExit(137);
    },
    exited,
  };
}

test('inline children: a stall of the loop they share with the supervisor kills nobody; a child that stops heartbeating is still caught', async () => {
  const beat = { on: true };
  const s = supervisor(
    [
      {
        id: 'inl',
        role: 'tracker',
        restart: 'permanent',
        shutdownTimeoutMs: 1000,
        start: { mode: 'inline', run: async (ctx) => inlineChild(ctx.send, ctx.hostId, beat) },
      },
    ],
    { hangTimeoutMs: 500 },
  );
  const hung: Array<{ cause: string }> = [];
  s.on('child-hung', (e) => hung.push(e));
  await s.start();
  assert.equal(s.status()[0]!.state, 'running');
  // The shared loop stands still for 4× the hang timeout.
  blockFor(2000);
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(hung, [], 'nobody killed for the stall of the shared loop');
  assert.ok(s.pausedMs >= 1500, `the supervisor noticed its own pause (${Math.round(s.pausedMs)} ms)`);
  assert.equal(s.status()[0]!.restarts, 0);
  // Now the loop runs, but the child stops heartbeating: that is a real silence.
  beat.on = false;
  assert.ok(await waitFor(() => hung.length > 0, 5000), 'a silent inline child is killed');
  assert.equal((hung as Array<{ cause: string }>)[0]!.cause, 'no_heartbeat');
  beat.on = true;
  await s.stop();
});
