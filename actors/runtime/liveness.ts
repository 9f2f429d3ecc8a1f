/**
 * Liveness that measures progress, not punctuality.
 *
 * Node's event loop is not preemptive: a host whose JavaScript is busy for a
 * while cannot send a heartbeat from that loop, although nothing is wrong
 * with it. So a process's liveness is reported by a worker thread (its own
 * event loop, scheduled by the OS) that watches a progress stamp the main
 * loop writes into shared memory every PROGRESS_TICK_MS:
 *
 * - the thread keeps beating while the main loop is busy, each beat saying
 *   how long the main loop has gone without a turn (`stalledMs`);
 * - beats stop only when the whole process is stopped (SIGSTOP, a VM pause)
 *   or dead: that, and only that, is "unresponsive";
 * - a main loop that makes no progress at all for the hang timeout is
 *   "hung" (an infinite loop, a deadlocked native call);
 * - a loop that turns but late is "slow": reported, never a reason to kill.
 *
 * Two ways to use it:
 * - `beatFd`: a forked actor host writes newline-delimited beats (protocol
 *   LivenessBeat) to a pipe its supervisor reads; the supervisor judges
 *   (actors' hosts are restarted by their supervisor, not by themselves);
 * - `selfHangTimeoutMs`: a process nobody supervises (the node itself: the
 *   embedded default, or a cluster node's supervisor) ends itself with a
 *   clear line on stderr once its loop has made no progress for that long,
 *   so its process manager (systemd, Docker) restarts it. Nothing else can:
 *   every role of the embedded default shares this loop.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

/** How often the main loop stamps its progress. Stalls shorter than this are invisible, by design. */
export const PROGRESS_TICK_MS = 50;

export interface LivenessOptions {
  /** Beat period of the thread. */
  beatMs: number;
  /** Write beats to this file descriptor (a forked host's liveness pipe). */
  beatFd?: number;
  /** End the process (SIGKILL, after a line on stderr) once the loop made no progress for this long. */
  selfHangTimeoutMs?: number;
  /**
   * Until `started()` is called the self hang limit is at least this long:
   * loading modules, opening the embedded database and migrating may hold
   * the loop for a while on a loaded machine, as a starting host's may.
   */
  startupGraceMs?: number;
  /** Named in the stderr line (node id, role). */
  label: string;
}

export interface LivenessWatch {
  /** Milliseconds since the main loop last turned (0 when it is turning). */
  stalledMs(): number;
  /** Startup is over: from now on the plain hang timeout applies. */
  started(): void;
  stop(): Promise<void>;
}

/** Absolute monotonic milliseconds, comparable between threads of one process. */
export function monoNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Start the liveness thread. The shared stamp is a BigInt64 written with
 * Atomics, so the thread never reads a torn value.
 */
export function startLiveness(options: LivenessOptions): LivenessWatch {
  if (!(options.beatMs >= 10)) throw new RangeError(`beatMs must be >= 10 (got ${options.beatMs})`);
  // [0]: the progress stamp; [1]: 1 once startup is over.
  const shared = new SharedArrayBuffer(16);
  const stamp = new BigInt64Array(shared);
  const touch = (): void => {
    Atomics.store(stamp, 0, BigInt(Math.round(monoNowMs())));
  };
  touch();
  const ticker = setInterval(touch, PROGRESS_TICK_MS);
  // The ticker must not keep a process alive that has nothing else to do.
  ticker.unref();
  const worker = new Worker(new URL('./liveness-thread.js', import.meta.url), {
    workerData: {
      shared,
      beatMs: options.beatMs,
      beatFd: options.beatFd ?? null,
      selfHangTimeoutMs: options.selfHangTimeoutMs ?? null,
      startupGraceMs: options.startupGraceMs ?? 0,
      label: options.label,
      tickMs: PROGRESS_TICK_MS,
    },
    // The thread only reads shared memory and writes a few bytes; keep it small.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    stdout: false,
    stderr: false,
  });
  worker.unref();
  worker.on('error', (err) => {
    process.stderr.write(`liveness thread failed (${options.label}): ${err instanceof Error ? err.message : String(err)}\n`);
  });
  let stopped: Promise<void> | null = null;
  return {
    stalledMs: () => Math.max(0, monoNowMs() - Number(Atomics.load(stamp, 0)) - PROGRESS_TICK_MS),
    started: () => void Atomics.store(stamp, 1, 1n),
    stop() {
      stopped ??= (async () => {
        clearInterval(ticker);
        await worker.terminate();
      })();
      return stopped;
    },
  };
}
