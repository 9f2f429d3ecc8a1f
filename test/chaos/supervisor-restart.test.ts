/**
 * R3 (RELIABILITY.md): a child that crashes at start under one_for_one with
 * intensity 5 in 30 s gets exactly 5 restarts, then the supervisor shuts down
 * in order and exits non-zero, leaving no process behind. Also: a SIGKILLed
 * supervisor leaves no orphans (children exit when their IPC channel closes).
 * The supervisor is a real process (test/fixtures/supervisor-main).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, spawnNode, waitFor, type Spawned } from '../helpers/processes.js';

const SUPERVISOR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'supervisor-main.js');
const running: Spawned[] = [];
const childPids = new Set<number>();

after(() => {
  for (const s of running) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  for (const pid of childPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

function startSupervisor(cfg: unknown): Spawned {
  const s = spawnNode([SUPERVISOR, JSON.stringify(cfg)]);
  running.push(s);
  return s;
}

function pidsOf(s: Spawned): number[] {
  const pids = s
    .lines()
    .filter((l) => l.event === 'child-start')
    .map((l) => l.pid as number);
  for (const p of pids) childPids.add(p);
  return pids;
}

test('R3: crash at start, one_for_one, intensity 5 in 30 s → exactly 5 restarts, orderly shutdown, non-zero exit, no orphans', { timeout: 60_000 }, async () => {
  const s = startSupervisor({
    children: [
      { id: 'steady', mode: 'ok' },
      { id: 'crasher', mode: 'crash-at-start' },
    ],
    maxRestarts: 5,
    restartWindowMs: 30_000,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    hangTimeoutMs: 1500,
  });
  const { code, signal } = await s.exited;
  const lines = s.lines();
  const starts = lines.filter((l) => l.event === 'child-start' && l.id === 'crasher');
  const restarts = lines.filter((l) => l.event === 'restart-scheduled' && l.id === 'crasher');
  const escalations = lines.filter((l) => l.event === 'escalate');
  const steadyExit = lines.find((l) => l.event === 'child-exit' && l.id === 'steady');
  const outcome = lines.find((l) => l.event === 'outcome');
  assert.equal(signal, null, s.stderr());
  assert.notEqual(code, 0);
  assert.equal(restarts.length, 5, 'exactly 5 restarts');
  assert.equal(starts.length, 6, 'first start + 5 restarts');
  assert.equal(escalations.length, 1);
  assert.equal(outcome?.reason, 'escalated');
  // Orderly: the healthy child was drained (exit 0), not killed.
  assert.equal(steadyExit?.reason, 'shutdown');
  assert.equal(steadyExit?.code, 0);
  for (const pid of pidsOf(s)) assert.equal(isAlive(pid), false, `child ${pid} outlived its supervisor`);
});

test('a SIGKILLed supervisor leaves no orphan children', { timeout: 30_000 }, async () => {
  const s = startSupervisor({ children: [{ id: 'a', mode: 'ok' }, { id: 'b', mode: 'ok' }] });
  assert.ok(await waitFor(() => pidsOf(s).length === 2 && s.lines().some((l) => l.event === 'first-heartbeat'), 10_000), s.stderr());
  const pids = pidsOf(s);
  for (const pid of pids) assert.ok(isAlive(pid));
  s.proc.kill('SIGKILL');
  await s.exited;
  const gone = await waitFor(() => pids.every((p) => !isAlive(p)), 5000);
  assert.ok(gone, `orphans left: ${pids.filter(isAlive).join(', ')}`);
});

test('SIGTERM to the supervisor drains its children and exits 0', { timeout: 30_000 }, async () => {
  const s = startSupervisor({ children: [{ id: 'a', mode: 'ok' }, { id: 'b', mode: 'ok' }] });
  assert.ok(await waitFor(() => s.lines().filter((l) => l.event === 'child-start').length === 2, 10_000));
  await waitFor(() => false, 600);
  s.proc.kill('SIGTERM');
  const { code } = await s.exited;
  assert.equal(code, 0, s.stderr());
  const exits = s.lines().filter((l) => l.event === 'child-exit');
  assert.deepEqual(exits.map((e) => [e.id, e.code, e.reason]), [
    ['b', 0, 'shutdown'],
    ['a', 0, 'shutdown'],
  ]);
  for (const pid of pidsOf(s)) assert.equal(isAlive(pid), false);
});
