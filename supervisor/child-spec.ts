/**
 * Child specifications as data, after OTP's supervisor child specs: who the
 * child is, when it is restarted, how long it may take to stop, and how it is
 * started. Source: Erlang/OTP "supervisor" reference manual (child_spec(),
 * restart types, shutdown).
 */
import type { MessagePort } from 'node:worker_threads';
import { StarWeatherError } from '../protocol/errors.js';
import type { Role } from '../protocol/messages/cluster.js';
import type { SupervisorCommand } from '../protocol/messages/host-ipc.js';

/**
 * permanent: always restarted. transient: restarted only after an abnormal
 * exit (non-zero code, signal, hang). temporary: never restarted.
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** Fork `module` as a Node child process with an IPC channel. */
export interface ProcessStart {
  mode: 'process';
  /** Absolute path of the entry module (e.g. dist/actors/host/main.js). */
  module: string;
  args?: string[];
  /** Added to the parent's environment. */
  env?: Record<string, string>;
  execArgv?: string[];
}

/**
 * What the supervisor gives an inline child: a way to send the same
 * messages a forked child sends over IPC (heartbeats, info, metrics), which
 * the supervisor validates exactly as if they came over IPC.
 */
export interface InlineContext {
  childId: string;
  hostId: string;
  send(message: unknown): void;
}

/** A child running in the supervisor's own process. */
export interface InlineChild {
  /** Deliver a command (drain, metrics) as IPC would. */
  command(cmd: SupervisorCommand): void;
  /** Stop at once, without draining (the inline stand-in for SIGKILL). */
  kill(): void;
  /** Resolves with the exit code once the child has stopped (0 = clean). */
  readonly exited: Promise<number>;
}

/**
 * Run the host in this process: used with the embedded transport, whose
 * in-process bus cannot span processes. A crash of an inline child is a
 * rejected `exited`/non-zero code; a real crash of the process takes the
 * supervisor with it, which is the price of having no broker.
 */
export interface InlineStart {
  mode: 'inline';
  run(ctx: InlineContext): Promise<InlineChild>;
}

/** What a thread child needs for one incarnation: fresh ports (bus, storage) and data. */
export interface ThreadLaunch {
  /** Structured-cloneable data merged into the worker's workerData. */
  workerData: Record<string, unknown>;
  /** Ports inside workerData, moved to the worker. */
  transferList: MessagePort[];
  /** Called once the incarnation has ended: release the owner-side ends. */
  release(): void;
}

/**
 * Run the host on a worker thread of the supervisor's process: used with the
 * embedded transport, whose bus (and PGlite, and memory cache) the main
 * thread owns and bridges to the thread over MessagePorts. The host gets an
 * event loop of its own, so one role's CPU work never stalls another's
 * (issue 10); a hung host is terminated like a SIGKILLed process.
 */
export interface ThreadStart {
  mode: 'thread';
  /** Absolute path of the thread entry module (dist/actors/host/thread-main.js). */
  module: string;
  /** Fresh ports and data for each incarnation. */
  launch(ctx: { childId: string; hostId: string }): Promise<ThreadLaunch>;
}

export interface ChildSpec {
  /** Unique among the supervisor's children; stable across restarts. */
  id: string;
  role: Role;
  restart: RestartType;
  /** Time the child gets to drain and exit before SIGKILL. */
  shutdownTimeoutMs: number;
  start: ProcessStart | InlineStart | ThreadStart;
}

const ID_RE = /^[A-Za-z0-9._-]{1,100}$/;

export function validateChildSpecs(specs: readonly ChildSpec[]): void {
  const seen = new Set<string>();
  for (const s of specs) {
    if (!ID_RE.test(s.id)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `child id ${JSON.stringify(s.id)} must match ${ID_RE}`);
    if (seen.has(s.id)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `child id ${s.id} appears twice`);
    seen.add(s.id);
    if (!['permanent', 'transient', 'temporary'].includes(s.restart)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `child ${s.id}: unknown restart type ${String(s.restart)}`);
    if (!Number.isFinite(s.shutdownTimeoutMs) || s.shutdownTimeoutMs < 0) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `child ${s.id}: shutdownTimeoutMs must be ≥ 0`);
    if (s.start.mode === 'thread' && !s.start.module) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `child ${s.id}: thread start needs a module path`);
    if (s.start.mode === 'process' && !s.start.module) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `child ${s.id}: process start needs a module path`);
  }
}

/** Should a child that ended this way be restarted? */
export function shouldRestart(restart: RestartType, abnormal: boolean): boolean {
  if (restart === 'permanent') return true;
  if (restart === 'transient') return abnormal;
  return false;
}
