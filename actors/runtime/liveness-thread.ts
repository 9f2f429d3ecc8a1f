/**
 * The liveness thread (see liveness.ts). It runs on its own event loop, so
 * it beats while the main thread's JavaScript is busy. It touches nothing
 * but the shared progress stamp, one file descriptor and stderr: no bus, no
 * database, nothing that could itself block on the main thread.
 */
import { writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { workerData } from 'node:worker_threads';

interface Data {
  shared: SharedArrayBuffer;
  beatMs: number;
  beatFd: number | null;
  selfHangTimeoutMs: number | null;
  startupGraceMs: number;
  label: string;
  tickMs: number;
}

const data = workerData as Data;
const stamp = new BigInt64Array(data.shared);
let seq = 0;
let pipeBroken = false;
/** When this thread last ran its beat, and when it last came back from a pause of the whole process. */
let lastBeatAt = performance.timeOrigin + performance.now();
let resumedAt = 0;

function stalledMs(now: number): number {
  // Time the whole process was stopped (SIGSTOP, a frozen VM) is not the
  // main loop's fault: this thread did not run either. Count the stall only
  // from when this thread found itself running again.
  const since = Math.max(Number(Atomics.load(stamp, 0)), resumedAt);
  return Math.max(0, Math.round(now - since - data.tickMs));
}

function beat(): void {
  const now = performance.timeOrigin + performance.now();
  // A gap far beyond the beat period: this thread (so the process) was not running.
  if (now - lastBeatAt > data.beatMs + 1000) resumedAt = now;
  lastBeatAt = now;
  const stalled = stalledMs(now);
  if (data.beatFd !== null && !pipeBroken) {
    const line = `${JSON.stringify({ v: 1, type: 'beat', seq: ++seq, stalledMs: stalled, pid: process.pid })}\n`;
    try {
      writeSync(data.beatFd, line);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // EAGAIN: the supervisor is not reading right now (it may be paused
      // itself); drop this beat, the next one says the same and more.
      // Anything else (EPIPE, EBADF): the supervisor is gone; the host's IPC
      // disconnect handler drains it, nothing to do here.
      if (code !== 'EAGAIN') pipeBroken = true;
    }
  }
  const limit = data.selfHangTimeoutMs === null ? null : Atomics.load(stamp, 1) === 1n ? data.selfHangTimeoutMs : Math.max(data.selfHangTimeoutMs, data.startupGraceMs);
  if (limit !== null && stalled > limit) {
    try {
      writeSync(2, `FATAL ${data.label}: the event loop has made no progress for ${stalled} ms (hang timeout ${limit} ms): ending the process so that its process manager restarts it\n`);
    } catch {
      // stderr closed: end all the same
    }
    // The main thread cannot run a signal handler (it is the part that hangs),
    // so only SIGKILL ends the process for sure.
    process.kill(process.pid, 'SIGKILL');
  }
}

setInterval(beat, data.beatMs);
beat();
