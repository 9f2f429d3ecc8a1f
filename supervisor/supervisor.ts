/**
 * A one_for_one supervisor for actor hosts, after Erlang/OTP's supervisor
 * (reference manual, "supervisor"): children start in order and stop in
 * reverse order, each with its own shutdown timeout after which it is
 * killed; a child that exits, or that is judged hung (SIGKILL first), is
 * restarted alone after a jittered backoff; more than maxRestarts restarts
 * within restartWindowMs means restarting is not helping, so the supervisor
 * escalates: it stops every child and finishes with a non-zero outcome
 * instead of looping.
 *
 * Busy is not dead. A forked host's liveness thread (actors/runtime/
 * liveness.ts) beats on a pipe while the host's JavaScript is busy, saying
 * how long its event loop has gone without a turn. The supervisor kills a
 * child only when
 * - beats stop for heartbeatTimeoutMs: the process is stopped or dead
 *   (cause `no_beats`), or
 * - its loop made no progress at all for hangTimeoutMs (cause
 *   `no_progress`: an infinite loop, a deadlocked native call).
 * A late IPC heartbeat or a high event-loop delay only marks the child slow.
 * A child that never beats (an older host) is judged by IPC heartbeat
 * silence over hangTimeoutMs, as before. Inline children share this
 * supervisor's own event loop: every silence is measured on the time this
 * supervisor was awake to watch (a stall of the shared loop, or a SIGSTOP of
 * the whole process, is not counted against anyone), so a stall of the loop
 * they share never kills them.
 *
 * Messages from children (IPC or inline) are validated; an invalid one is
 * counted and ignored, it never crashes the supervisor.
 */
import { StarWeatherError } from '../protocol/errors.js';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { HostHeartbeatMessage, type HostHeartbeat } from '../protocol/messages/cluster.js';
import { HOST_ENV, THREAD_PROGRESS_SLOTS, HostInfoMessage, HostMetricsMessage, LIVENESS_FD, LivenessBeatMessage, NodeViewRequestMessage, type HostInfo, type NodeViewAnswer, type NodeViewRequest, type SupervisorCommand, type ThreadHostData } from '../protocol/messages/host-ipc.js';
import { nextDelay, validateBackoff, type BackoffPolicy } from './backoff.js';
import { shouldRestart, validateChildSpecs, type ChildSpec, type InlineChild, type ThreadLaunch } from './child-spec.js';

export type ChildState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** exit: it ended on its own; hung: killed as hung (see `hangCause`); shutdown: stopped by us. */
  reason: 'exit' | 'hung' | 'shutdown' | 'shutdown-timeout';
  /** Why a hung child was killed. */
  hangCause?: HangCause;
  at: number;
}

/**
 * no_beats: the liveness thread went silent (process stopped or dead);
 * no_progress: the event loop made no progress for hangTimeoutMs;
 * no_heartbeat: a child without a liveness thread stopped heartbeating;
 * no_start: a starting child sent no first heartbeat within startupTimeoutMs.
 */
export type HangCause = 'no_beats' | 'no_progress' | 'no_heartbeat' | 'no_start';

/** A gap this much longer than the check period means the supervisor itself was not running. */
const PAUSE_SLACK_MS = 1000;

export interface ChildStatus {
  id: string;
  role: ChildSpec['role'];
  mode: 'process' | 'inline' | 'thread';
  hostId: string;
  pid: number | null;
  /** The worker thread's id (thread children), else null. */
  threadId: number | null;
  state: ChildState;
  draining: boolean;
  /** Restarts since the supervisor started. */
  restarts: number;
  startedAt: number | null;
  lastHeartbeatAt: number | null;
  actors: number;
  inFlight: number;
  eventLoopP99Ms: number;
  /** Event-loop delay above the slow threshold, or a loop stalled past it: busy, not dead. */
  slow: boolean;
  /** How long the child's loop had gone without a turn at its last liveness beat (0 without beats). */
  stalledMs: number;
  /** Wall time of the last liveness beat (null: none yet, or the child has no liveness thread). */
  lastBeatAt: number | null;
  queueDepths: Record<string, number>;
  info: HostInfo | null;
  lastExit: ChildExit | null;
}

export interface SupervisorOutcome {
  /** Process exit code the CLI should use: 0 only for a clean, requested stop. */
  code: number;
  reason: 'stopped' | 'escalated' | 'unclean-stop';
  detail: string;
}

export interface SupervisorOptions {
  nodeId: string;
  children: ChildSpec[];
  /** Restart intensity: more than this many restarts within restartWindowMs escalates. */
  maxRestarts: number;
  restartWindowMs: number;
  backoff: BackoffPolicy;
  /**
   * A child whose event loop made no progress this long is hung: SIGKILLed
   * and restarted. (A child without a liveness thread: silent this long.)
   */
  hangTimeoutMs: number;
  /** A forked child whose liveness beats stop this long is stopped or dead (default 5000 ms). */
  heartbeatTimeoutMs?: number;
  /** Event-loop delay above which a child is reported slow (default 500 ms). */
  slowLagMs?: number;
  /**
   * A starting child gets this long for its first heartbeat (it connects,
   * provisions and joins first); default hangTimeoutMs. Also how long
   * start() waits for one child before starting the next.
   */
  startupTimeoutMs?: number;
  logger?: Logger;
  /** Supervisor metrics are registered here when given. */
  registry?: Registry;
  /** Extra environment for every forked child (e.g. config the parent resolved). */
  childEnv?: Record<string, string>;
}

interface ChildRecord {
  spec: ChildSpec;
  incarnation: number;
  hostId: string;
  proc: ChildProcess | null;
  inline: InlineChild | null;
  worker: Worker | null;
  /** The current thread incarnation's ports, released when it ends. */
  launch: ThreadLaunch | null;
  /** A thread child's progress counter (shared memory) and when we last saw it move. */
  progress: Int32Array | null;
  progressSeen: number;
  progressAwake: number;
  /** Set while an inline child's run() or a thread child's launch() is in progress. */
  pending: Promise<void> | null;
  state: ChildState;
  restarts: number;
  /** Restart times of this child inside the window: its backoff attempt. */
  recentRestarts: number[];
  lastDelayMs: number;
  restartTimer: NodeJS.Timeout | null;
  startedAt: number | null;
  lastHeartbeatAt: number | null;
  /** Supervisor awake-time (see awakeNow) of the last IPC heartbeat / liveness beat / spawn. */
  heartbeatAwake: number | null;
  beatAwake: number | null;
  startedAwake: number;
  lastBeatAt: number | null;
  stalledMs: number;
  heartbeat: HostHeartbeat | null;
  info: HostInfo | null;
  lastExit: ChildExit | null;
  hung: boolean;
  hangCause: HangCause | null;
  stopping: boolean;
  stopTimedOut: boolean;
  /** Resolved by the exit handler of the current incarnation. */
  exitWaiters: Array<(exit: ChildExit) => void>;
  firstHeartbeatWaiters: Array<() => void>;
}

interface SupervisorMetrics {
  restarts: Counter<'child' | 'role'>;
  up: Gauge<'child' | 'role'>;
  invalid: Counter<'child'>;
  escalations: Counter;
  hungKills: Counter<'child' | 'role' | 'cause'>;
  slow: Gauge<'child' | 'role'>;
  pausedSeconds: Counter;
}

function createSupervisorMetrics(registry: Registry): SupervisorMetrics {
  return {
    restarts: new Counter({ name: 'sw_supervisor_restarts_total', help: 'Restarts of a supervised actor host', labelNames: ['child', 'role'], registers: [registry] }),
    up: new Gauge({ name: 'sw_supervisor_child_up', help: '1 while a supervised actor host is heartbeating', labelNames: ['child', 'role'], registers: [registry] }),
    invalid: new Counter({ name: 'sw_supervisor_invalid_messages_total', help: 'IPC messages from a child that failed validation and were ignored', labelNames: ['child'], registers: [registry] }),
    escalations: new Counter({ name: 'sw_supervisor_escalations_total', help: 'Times restart intensity was exceeded and the supervisor gave up', registers: [registry] }),
    hungKills: new Counter({
      name: 'sw_supervisor_hung_kills_total',
      help: 'Children killed as hung, by cause (no_beats: stopped or dead; no_progress: event loop made no progress for the hang timeout; no_heartbeat: a child without a liveness thread went silent; no_start: no first heartbeat in time)',
      labelNames: ['child', 'role', 'cause'],
      registers: [registry],
    }),
    slow: new Gauge({ name: 'sw_supervisor_child_slow', help: '1 while a child is slow (event-loop delay above the slow threshold); slow is never a reason to restart', labelNames: ['child', 'role'], registers: [registry] }),
    pausedSeconds: new Counter({ name: 'sw_supervisor_paused_seconds_total', help: 'Time the supervisor itself did not run (its loop stalled, or the process was stopped); not counted against any child', registers: [registry] }),
  };
}

/** Answers a host's node-view request (health report or metrics text); set by the node. */
export type NodeViewHandler = (want: NodeViewRequest['want']) => Promise<Omit<NodeViewAnswer, 'type' | 'requestId'>>;

export class Supervisor extends EventEmitter {
  readonly nodeId: string;
  readonly done: Promise<SupervisorOutcome>;
  /** IPC messages that failed validation (all children). */
  invalidMessages = 0;

  private readonly opts: SupervisorOptions;
  /** Distinguishes this supervisor's host ids from those of earlier runs of the same node. */
  private readonly bootId = randomBytes(3).toString('hex');
  private readonly startupTimeoutMs: number;
  private readonly log: Logger;
  private readonly records: ChildRecord[];
  private readonly metrics: SupervisorMetrics | null;
  /** Restart times across all children (OTP intensity is per supervisor). */
  private restartTimes: number[] = [];
  private hangTimer: NodeJS.Timeout | null = null;
  private readonly heartbeatTimeoutMs: number;
  private readonly slowLagMs: number;
  private readonly checkEveryMs: number;
  /** Awake time accumulated up to lastCheckMono (see awakeNow). */
  private awakeMs = 0;
  private lastCheckMono = performance.now();
  /** Total time the supervisor was found not running. */
  pausedMs = 0;
  private stopping: Promise<SupervisorOutcome> | null = null;
  private started = false;
  private resolveDone!: (o: SupervisorOutcome) => void;
  private metricsRequestId = 0;
  private readonly metricsWaiters = new Map<number, (metrics: unknown[]) => void>();
  private nodeView: NodeViewHandler | null = null;

  constructor(options: SupervisorOptions) {
    super();
    validateChildSpecs(options.children);
    validateBackoff(options.backoff);
    if (!Number.isInteger(options.maxRestarts) || options.maxRestarts < 0) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'maxRestarts must be an integer ≥ 0');
    if (!(options.restartWindowMs > 0)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'restartWindowMs must be > 0');
    if (!(options.hangTimeoutMs > 0)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'hangTimeoutMs must be > 0');
    if (options.startupTimeoutMs !== undefined && !(options.startupTimeoutMs > 0)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'startupTimeoutMs must be > 0');
    if (options.heartbeatTimeoutMs !== undefined && !(options.heartbeatTimeoutMs > 0)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'heartbeatTimeoutMs must be > 0');
    this.startupTimeoutMs = options.startupTimeoutMs ?? options.hangTimeoutMs;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 5000;
    this.slowLagMs = options.slowLagMs ?? 500;
    this.checkEveryMs = Math.max(20, Math.min(250, Math.floor(Math.min(options.hangTimeoutMs, this.heartbeatTimeoutMs) / 4)));
    this.opts = options;
    this.nodeId = options.nodeId;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'supervisor' });
    this.metrics = options.registry ? createSupervisorMetrics(options.registry) : null;
    this.records = options.children.map((spec) => ({
      spec,
      incarnation: 0,
      hostId: '',
      proc: null,
      inline: null,
      worker: null,
      launch: null,
      progress: null,
      progressSeen: 0,
      progressAwake: 0,
      pending: null,
      state: 'stopped',
      restarts: 0,
      recentRestarts: [],
      lastDelayMs: 0,
      restartTimer: null,
      startedAt: null,
      lastHeartbeatAt: null,
      heartbeatAwake: null,
      beatAwake: null,
      startedAwake: 0,
      lastBeatAt: null,
      stalledMs: 0,
      heartbeat: null,
      info: null,
      lastExit: null,
      hung: false,
      hangCause: null,
      stopping: false,
      stopTimedOut: false,
      exitWaiters: [],
      firstHeartbeatWaiters: [],
    }));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /**
   * Start the children in order. Each gets until its first heartbeat (or
   * hangTimeoutMs) before the next one starts; a child that dies meanwhile
   * is handled by the restart policy like any other crash.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('supervisor already started');
    this.started = true;
    this.lastCheckMono = performance.now();
    this.hangTimer = setInterval(() => this.checkHangs(), this.checkEveryMs);
    this.hangTimer.unref();
    for (const rec of this.records) {
      if (this.stopping) return;
      this.spawn(rec);
      await this.waitFirstHeartbeat(rec, this.startupTimeoutMs);
    }
  }

  /** Drain every child in reverse order; resolves with the outcome (also `done`). */
  stop(): Promise<SupervisorOutcome> {
    return this.shutdown('stopped', 'stop requested');
  }

  status(): ChildStatus[] {
    return this.records.map((r) => ({
      id: r.spec.id,
      role: r.spec.role,
      mode: r.spec.start.mode,
      hostId: r.hostId,
      pid: r.proc?.pid ?? (r.inline || r.worker ? process.pid : null),
      threadId: r.worker?.threadId ?? null,
      state: r.state,
      draining: r.stopping,
      restarts: r.restarts,
      startedAt: r.startedAt,
      lastHeartbeatAt: r.lastHeartbeatAt,
      actors: r.heartbeat?.actors ?? 0,
      inFlight: r.heartbeat?.inFlight ?? 0,
      eventLoopP99Ms: r.heartbeat?.eventLoopP99Ms ?? 0,
      slow: this.isSlow(r),
      stalledMs: r.stalledMs,
      lastBeatAt: r.lastBeatAt,
      queueDepths: { ...(r.heartbeat?.queueDepths ?? {}) },
      info: r.info,
      lastExit: r.lastExit,
    }));
  }

  /**
   * Serve hosts' node-view requests (the gateway shows the node's health and
   * metrics on its port). Until set, such requests are answered with an error.
   */
  setNodeView(handler: NodeViewHandler | null): void {
    this.nodeView = handler;
  }

  /**
   * Ask every live child for its metrics (prom-client JSON); children that
   * do not answer within `timeoutMs` are left out rather than holding up
   * a scrape.
   */
  async collectChildMetrics(timeoutMs = 1000): Promise<unknown[][]> {
    const asks = this.records
      .filter((r) => (r.proc || r.inline || r.worker) && r.state === 'running')
      .map(
        (r) =>
          new Promise<unknown[] | null>((resolve) => {
            const requestId = ++this.metricsRequestId;
            const timer = setTimeout(() => {
              this.metricsWaiters.delete(requestId);
              resolve(null);
            }, timeoutMs);
            this.metricsWaiters.set(requestId, (metrics) => {
              clearTimeout(timer);
              this.metricsWaiters.delete(requestId);
              resolve(metrics);
            });
            if (!this.command(r, { type: 'metrics', requestId })) {
              clearTimeout(timer);
              this.metricsWaiters.delete(requestId);
              resolve(null);
            }
          }),
      );
    const all = await Promise.all(asks);
    return all.filter((m): m is unknown[] => m !== null);
  }

  // ---------------------------------------------------------------- spawning

  private spawn(rec: ChildRecord): void {
    rec.incarnation += 1;
    // A fresh id per incarnation: a restarted host is a new lease holder, so
    // fencing can tell it from its predecessor. The supervisor's boot id
    // keeps ids unique across restarts of the node too: a host of the
    // previous node process may still be draining, and a lease holder that
    // finds its own id on a lease takes it as its own. Membership keys allow
    // only [-\w] in a host id, hence the replacement.
    rec.hostId = `${this.nodeId}-${rec.spec.id}-${this.bootId}-${rec.incarnation}`.replace(/[^-\w]/g, '_');
    rec.state = 'starting';
    rec.hung = false;
    rec.hangCause = null;
    rec.stopping = false;
    rec.stopTimedOut = false;
    rec.heartbeat = null;
    rec.info = null;
    rec.lastHeartbeatAt = null;
    rec.heartbeatAwake = null;
    rec.beatAwake = null;
    rec.lastBeatAt = null;
    rec.stalledMs = 0;
    rec.startedAt = Date.now();
    rec.startedAwake = this.awakeNow();
    const start = rec.spec.start;
    if (start.mode === 'process') this.spawnProcess(rec, start);
    else if (start.mode === 'thread') this.spawnThread(rec, start);
    else this.spawnInline(rec, start);
  }

  private spawnProcess(rec: ChildRecord, start: Extract<ChildSpec['start'], { mode: 'process' }>): void {
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...this.opts.childEnv,
      ...start.env,
      STARWEATHER_NODE_ID: this.nodeId,
      [HOST_ENV.role]: rec.spec.role,
      [HOST_ENV.hostId]: rec.hostId,
      [HOST_ENV.childId]: rec.spec.id,
      [HOST_ENV.beatFd]: String(LIVENESS_FD),
    };
    let proc: ChildProcess;
    try {
      proc = fork(start.module, start.args ?? [], {
        env,
        execArgv: start.execArgv ?? [],
        // fd 4: the liveness pipe the host's liveness thread beats on.
        stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'],
        serialization: 'json',
        // Own process group: a terminal's Ctrl-C reaches only the
        // supervisor, which then stops children in reverse order itself.
        detached: true,
      });
    } catch (err) {
      this.log.error({ err, child: rec.spec.id }, 'fork failed');
      this.onExit(rec, null, 1, null);
      return;
    }
    rec.proc = proc;
    const incarnation = rec.incarnation;
    proc.on('message', (m: unknown) => {
      if (rec.incarnation === incarnation) this.onMessage(rec, m);
    });
    proc.on('error', (err) => {
      this.log.error({ err, child: rec.spec.id, pid: proc.pid }, 'child process error');
      // A failed spawn emits 'error' without 'exit'.
      if (proc.pid === undefined) this.onExit(rec, proc, 1, null);
    });
    proc.on('exit', (code, signal) => this.onExit(rec, proc, code, signal));
    const beats = proc.stdio[LIVENESS_FD] as Readable | null | undefined;
    if (beats) this.readBeats(rec, incarnation, beats);
    this.log.info({ child: rec.spec.id, childRole: rec.spec.role, hostId: rec.hostId, pid: proc.pid, incarnation }, 'child started');
    this.emit('child-start', { id: rec.spec.id, pid: proc.pid ?? null, hostId: rec.hostId, incarnation });
  }

  private spawnInline(rec: ChildRecord, start: Extract<ChildSpec['start'], { mode: 'inline' }>): void {
    const incarnation = rec.incarnation;
    const current = () => rec.incarnation === incarnation;
    rec.pending = (async () => {
      let child: InlineChild;
      try {
        child = await start.run({
          childId: rec.spec.id,
          hostId: rec.hostId,
          send: (m) => {
            if (current()) this.onMessage(rec, m);
          },
        });
      } catch (err) {
        this.log.error({ err, child: rec.spec.id }, 'inline child failed to start');
        if (current()) this.onExit(rec, null, 1, null);
        return;
      }
      if (!current()) {
        child.kill();
        return;
      }
      rec.inline = child;
      child.exited.then(
        (code) => this.onExit(rec, child, code, null),
        (err) => {
          this.log.error({ err, child: rec.spec.id }, 'inline child crashed');
          this.onExit(rec, child, 1, null);
        },
      );
    })().finally(() => {
      if (current()) rec.pending = null;
    });
    this.log.info({ child: rec.spec.id, childRole: rec.spec.role, hostId: rec.hostId, incarnation }, 'inline child started');
    this.emit('child-start', { id: rec.spec.id, pid: process.pid, hostId: rec.hostId, incarnation });
  }

  private spawnThread(rec: ChildRecord, start: Extract<ChildSpec['start'], { mode: 'thread' }>): void {
    const incarnation = rec.incarnation;
    const current = () => rec.incarnation === incarnation;
    const progress = new SharedArrayBuffer(THREAD_PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    rec.progress = new Int32Array(progress);
    rec.progressSeen = 0;
    rec.progressAwake = this.awakeNow();
    rec.pending = (async () => {
      let launch: ThreadLaunch;
      try {
        launch = await start.launch({ childId: rec.spec.id, hostId: rec.hostId });
      } catch (err) {
        this.log.error({ err, child: rec.spec.id }, 'thread child could not be prepared');
        if (current()) this.onExit(rec, null, 1, null);
        return;
      }
      if (!current() || this.stopping) {
        launch.release();
        return;
      }
      const data: Omit<ThreadHostData, 'config' | 'transportPort' | 'storage'> = { role: rec.spec.role, hostId: rec.hostId, childId: rec.spec.id, progress };
      let worker: Worker;
      try {
        worker = new Worker(start.module, { workerData: { ...launch.workerData, ...data }, transferList: launch.transferList, env: { ...process.env, ...this.opts.childEnv, STARWEATHER_NODE_ID: this.nodeId } });
      } catch (err) {
        launch.release();
        this.log.error({ err, child: rec.spec.id }, 'worker thread failed to start');
        this.onExit(rec, null, 1, null);
        return;
      }
      rec.worker = worker;
      rec.launch = launch;
      worker.on('message', (m: unknown) => {
        if (current()) this.onMessage(rec, m);
      });
      // An uncaught error ends the thread; 'exit' follows with code 1.
      worker.on('error', (err) => this.log.error({ err, child: rec.spec.id, threadId: worker.threadId }, 'host thread crashed'));
      worker.on('exit', (code) => this.onExit(rec, worker, code, null));
      this.log.info({ child: rec.spec.id, childRole: rec.spec.role, hostId: rec.hostId, threadId: worker.threadId, incarnation }, 'thread child started');
    })().finally(() => {
      if (current()) rec.pending = null;
    });
    this.emit('child-start', { id: rec.spec.id, pid: process.pid, hostId: rec.hostId, incarnation });
  }

  // ---------------------------------------------------------------- messages

  /** Newline-delimited LivenessBeat lines from a forked child's liveness pipe. */
  private readBeats(rec: ChildRecord, incarnation: number, stream: Readable): void {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      // A child writing garbage without newlines must not grow this forever.
      if (buffered.length > 64 * 1024) buffered = '';
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (rec.incarnation !== incarnation) continue;
        let beat: unknown;
        try {
          beat = JSON.parse(line);
        } catch {
          beat = null;
        }
        if (!LivenessBeatMessage.check(beat)) {
          this.countInvalid(rec, 'beat');
          continue;
        }
        this.noteBeat(rec, this.awakeNow(), beat.stalledMs);
      }
    });
    // The pipe closes with the child; its exit is handled by 'exit'.
    stream.on('error', () => undefined);
  }

  private onMessage(rec: ChildRecord, raw: unknown): void {
    const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
    if (type === 'heartbeat' && HostHeartbeatMessage.check(raw) && raw.hostId === rec.hostId) {
      const first = rec.lastHeartbeatAt === null;
      rec.lastHeartbeatAt = Date.now();
      rec.heartbeatAwake = this.awakeNow();
      rec.heartbeat = raw;
      this.updateSlow(rec);
      if (rec.state === 'starting') rec.state = 'running';
      this.metrics?.up.set({ child: rec.spec.id, role: rec.spec.role }, 1);
      if (first) {
        const waiters = rec.firstHeartbeatWaiters.splice(0);
        for (const w of waiters) w();
      }
      this.emit('heartbeat', { id: rec.spec.id, hostId: rec.hostId, pid: rec.proc?.pid ?? process.pid, heartbeat: raw });
      return;
    }
    if (type === 'info' && HostInfoMessage.check(raw) && raw.hostId === rec.hostId) {
      rec.info = raw;
      this.emit('info', { id: rec.spec.id, info: raw });
      return;
    }
    if (type === 'metrics' && HostMetricsMessage.check(raw)) {
      this.metricsWaiters.get(raw.requestId)?.(raw.metrics);
      return;
    }
    if (type === 'node-view' && NodeViewRequestMessage.check(raw)) {
      const { requestId, want } = raw;
      const handler = this.nodeView;
      const answer = handler ? handler(want) : Promise.resolve({ error: 'this supervisor serves no node view' });
      void answer
        .catch((err: unknown) => ({ error: err instanceof Error ? err.message.slice(0, 1000) : String(err).slice(0, 1000) }))
        .then((a) => {
          this.command(rec, { type: 'node-view', requestId, ...a });
        });
      return;
    }
    this.countInvalid(rec, typeof type === 'string' ? type.slice(0, 50) : typeof raw);
  }

  private countInvalid(rec: ChildRecord, type: string): void {
    this.invalidMessages += 1;
    this.metrics?.invalid.inc({ child: rec.spec.id });
    // Logged at warn for the first few, then debug: a child stuck sending
    // garbage must not flood the log.
    this.log[this.invalidMessages <= 5 ? 'warn' : 'debug']({ child: rec.spec.id, type }, 'invalid message from child ignored');
    this.emit('invalid-message', { id: rec.spec.id });
  }

  private isSlow(rec: ChildRecord): boolean {
    if (!rec.proc && !rec.inline && !rec.worker) return false;
    return (rec.heartbeat?.eventLoopP99Ms ?? 0) > this.slowLagMs || rec.stalledMs > this.slowLagMs;
  }

  private updateSlow(rec: ChildRecord): void {
    this.metrics?.slow.set({ child: rec.spec.id, role: rec.spec.role }, this.isSlow(rec) ? 1 : 0);
  }

  /**
   * A clock that runs only while this supervisor runs: a gap between two
   * checks longer than one check period plus PAUSE_SLACK_MS counts as one
   * check period, so a stall
   * of our own loop (which inline children share) or a SIGSTOP/VM pause of
   * the whole process is never counted as a child's silence.
   */
  private awakeNow(): number {
    return this.awakeMs + this.awakeSpan(performance.now() - this.lastCheckMono);
  }

  /** How much of a gap between checks counts as awake: all of it, unless it was a pause (then one check period). */
  private awakeSpan(gap: number): number {
    return gap > this.checkEveryMs + PAUSE_SLACK_MS ? this.checkEveryMs : gap;
  }

  private command(rec: ChildRecord, cmd: SupervisorCommand): boolean {
    const { worker, inline } = rec;
    const direct = worker ? (c: SupervisorCommand) => worker.postMessage(c) : inline ? (c: SupervisorCommand) => inline.command(c) : null;
    if (direct) {
      try {
        direct(cmd);
        return true;
      } catch (err) {
        this.log.warn({ err, child: rec.spec.id }, `${worker ? 'thread' : 'inline'} command failed`);
        return false;
      }
    }
    const proc = rec.proc;
    if (!proc || !proc.connected) return false;
    try {
      return proc.send(cmd, (err) => {
        if (err) this.log.debug({ err, child: rec.spec.id }, 'IPC send failed');
      });
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------- exits and restarts

  private onExit(rec: ChildRecord, handle: ChildProcess | InlineChild | Worker | null, code: number | null, signal: NodeJS.Signals | null): void {
    // One exit per incarnation: 'error' and 'exit' may both fire.
    if (handle !== null && handle !== rec.proc && handle !== rec.inline && handle !== rec.worker) return;
    const pid = rec.proc?.pid ?? null;
    rec.proc = null;
    rec.inline = null;
    rec.worker = null;
    rec.progress = null;
    // The thread's ports (bus, storage) are released only now: its
    // subscriptions, consumers and in-flight work go back to the owner.
    const launch = rec.launch;
    rec.launch = null;
    try {
      launch?.release();
    } catch (err) {
      this.log.warn({ err, child: rec.spec.id }, 'releasing a thread child\'s ports failed');
    }
    this.metrics?.up.set({ child: rec.spec.id, role: rec.spec.role }, 0);
    const reason: ChildExit['reason'] = rec.stopping ? (rec.stopTimedOut ? 'shutdown-timeout' : 'shutdown') : rec.hung ? 'hung' : 'exit';
    const exit: ChildExit = { code, signal, reason, ...(reason === 'hung' && rec.hangCause ? { hangCause: rec.hangCause } : {}), at: Date.now() };
    this.metrics?.slow.set({ child: rec.spec.id, role: rec.spec.role }, 0);
    rec.lastExit = exit;
    const waiters = rec.exitWaiters.splice(0);
    for (const w of waiters) w(exit);
    for (const w of rec.firstHeartbeatWaiters.splice(0)) w();
    this.emit('child-exit', { id: rec.spec.id, role: rec.spec.role, hostId: rec.hostId, pid, ...exit });

    if (rec.stopping || this.stopping) {
      rec.state = 'stopped';
      this.log.info({ child: rec.spec.id, pid, code, signal, reason }, 'child stopped');
      return;
    }
    const abnormal = code !== 0 || signal !== null || rec.hung;
    this.log[abnormal ? 'warn' : 'info']({ child: rec.spec.id, pid, code, signal, reason }, 'child exited');
    if (!shouldRestart(rec.spec.restart, abnormal)) {
      rec.state = abnormal ? 'failed' : 'stopped';
      return;
    }
    const now = Date.now();
    const windowStart = now - this.opts.restartWindowMs;
    this.restartTimes = this.restartTimes.filter((t) => t > windowStart);
    if (this.restartTimes.length + 1 > this.opts.maxRestarts) {
      rec.state = 'failed';
      this.metrics?.escalations.inc();
      const detail = `child ${rec.spec.id} exited (code ${code}, signal ${signal}, ${reason}) and restart intensity is exhausted: ${this.restartTimes.length} restarts in ${this.opts.restartWindowMs} ms (max ${this.opts.maxRestarts})`;
      this.log.error({ child: rec.spec.id, restarts: this.restartTimes.length }, 'restart intensity exceeded, escalating');
      this.emit('escalate', { id: rec.spec.id, detail });
      void this.shutdown('escalated', detail);
      return;
    }
    this.restartTimes.push(now);
    rec.recentRestarts = rec.recentRestarts.filter((t) => t > windowStart);
    const attempt = rec.recentRestarts.length;
    rec.recentRestarts.push(now);
    const delayMs = nextDelay(this.opts.backoff, attempt, rec.lastDelayMs);
    rec.lastDelayMs = delayMs;
    rec.state = 'restarting';
    this.emit('restart-scheduled', { id: rec.spec.id, attempt, delayMs });
    this.log.info({ child: rec.spec.id, attempt, delayMs }, 'restart scheduled');
    rec.restartTimer = setTimeout(() => {
      rec.restartTimer = null;
      if (this.stopping) return;
      rec.restarts += 1;
      this.metrics?.restarts.inc({ child: rec.spec.id, role: rec.spec.role });
      this.spawn(rec);
    }, delayMs);
  }

  private checkHangs(): void {
    const mono = performance.now();
    const gap = mono - this.lastCheckMono;
    if (gap > this.checkEveryMs + PAUSE_SLACK_MS) {
      // We did not run for a while (our loop stalled, or the whole process
      // was stopped): that time is nobody's silence.
      const paused = gap - this.checkEveryMs;
      this.pausedMs += paused;
      this.metrics?.pausedSeconds.inc(paused / 1000);
      this.log.info({ pausedMs: Math.round(paused) }, 'supervisor did not run for a while; not counting it against any child');
      this.emit('paused', { pausedMs: paused });
    }
    this.awakeMs += this.awakeSpan(gap);
    this.lastCheckMono = mono;
    const now = this.awakeMs;
    for (const rec of this.records) {
      if (rec.stopping || rec.hung || (rec.state !== 'starting' && rec.state !== 'running')) continue;
      if (!rec.proc && !rec.inline && !rec.worker) continue;
      if (rec.worker && rec.progress) this.sampleProgress(rec, now);
      const verdict = this.judge(rec, now);
      if (verdict === null) continue;
      rec.hung = true;
      rec.hangCause = verdict.cause;
      this.metrics?.hungKills.inc({ child: rec.spec.id, role: rec.spec.role, cause: verdict.cause });
      this.log.warn({ child: rec.spec.id, pid: rec.proc?.pid, cause: verdict.cause, ...verdict.fields }, `child hung (${verdict.cause}), killing`);
      this.emit('child-hung', { id: rec.spec.id, pid: rec.proc?.pid ?? null, cause: verdict.cause });
      this.kill(rec);
    }
  }

  /** Read a thread child's progress counter: a moving counter is a loop that turns. */
  private sampleProgress(rec: ChildRecord, now: number): void {
    const seen = Atomics.load(rec.progress!, 0);
    if (seen !== rec.progressSeen) {
      rec.progressSeen = seen;
      rec.progressAwake = now;
    }
    this.noteBeat(rec, now, Math.round(now - rec.progressAwake));
  }

  /** A liveness reading: a forked host's beat, or a thread host's progress counter as sampled here. */
  private noteBeat(rec: ChildRecord, awake: number, stalledMs: number): void {
    rec.beatAwake = awake;
    rec.lastBeatAt = Date.now();
    rec.stalledMs = stalledMs;
    this.updateSlow(rec);
  }

  /**
   * A host whose liveness is read apart from its JavaScript (a forked host's
   * beat thread, a thread host's progress counter) is hung only when its loop
   * makes no progress. A starting host (loading modules, connecting,
   * provisioning) gets its startup allowance.
   */
  private judgeProgress(rec: ChildRecord, now: number): { cause: HangCause; fields: Record<string, number> } | null {
    const progressLimit = rec.heartbeatAwake === null ? Math.max(this.opts.hangTimeoutMs, this.startupTimeoutMs) : this.opts.hangTimeoutMs;
    if (rec.stalledMs > progressLimit) return { cause: 'no_progress', fields: { stalledMs: rec.stalledMs } };
    if (rec.heartbeatAwake === null && now - rec.startedAwake > this.startupTimeoutMs) {
      return { cause: 'no_start', fields: { startingMs: Math.round(now - rec.startedAwake) } };
    }
    return null;
  }

  /** Null while the child is alive (busy or not); otherwise why it is hung. */
  private judge(rec: ChildRecord, now: number): { cause: HangCause; fields: Record<string, number> } | null {
    // A thread's progress is sampled by this supervisor itself, so it has no beats to miss.
    if (rec.worker) return this.judgeProgress(rec, now);
    if (rec.proc && rec.beatAwake !== null) {
      // It has a liveness thread: judge progress, never punctuality.
      const silentMs = now - rec.beatAwake;
      if (silentMs > this.heartbeatTimeoutMs) return { cause: 'no_beats', fields: { silentMs: Math.round(silentMs) } };
      return this.judgeProgress(rec, now);
    }
    if (rec.proc && rec.heartbeatAwake === null && now - rec.startedAwake <= Math.min(this.heartbeatTimeoutMs, this.startupTimeoutMs)) {
      // A freshly forked host beats within a moment; until then, wait.
      return null;
    }
    const since = rec.heartbeatAwake ?? rec.startedAwake;
    const limit = rec.heartbeatAwake === null ? this.startupTimeoutMs : this.opts.hangTimeoutMs;
    if (now - since <= limit) return null;
    return { cause: rec.heartbeatAwake === null ? 'no_start' : 'no_heartbeat', fields: { silentMs: Math.round(now - since) } };
  }

  private kill(rec: ChildRecord): void {
    if (rec.proc) {
      try {
        rec.proc.kill('SIGKILL');
      } catch {
        // already gone; 'exit' follows
      }
    } else if (rec.worker) {
      // terminate() stops even a thread in an endless synchronous loop; 'exit' follows.
      void rec.worker.terminate().catch(() => undefined);
    } else if (rec.inline) {
      rec.inline.kill();
    }
  }

  private waitFirstHeartbeat(rec: ChildRecord, timeoutMs: number): Promise<void> {
    if (rec.lastHeartbeatAt !== null || (!rec.proc && !rec.inline && !rec.worker && !rec.pending)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      rec.firstHeartbeatWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private waitExit(rec: ChildRecord, timeoutMs: number): Promise<ChildExit | null> {
    if (!rec.proc && !rec.inline && !rec.worker) return Promise.resolve(rec.lastExit);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      rec.exitWaiters.push((exit) => {
        clearTimeout(timer);
        resolve(exit);
      });
    });
  }

  // ---------------------------------------------------------------- shutdown

  /** Stop one child: drain, wait its shutdown timeout, then SIGKILL. True when it stopped cleanly. */
  private async stopChild(rec: ChildRecord): Promise<boolean> {
    if (rec.restartTimer) {
      clearTimeout(rec.restartTimer);
      rec.restartTimer = null;
      rec.state = 'stopped';
      return true;
    }
    if (rec.pending) await rec.pending;
    // Not running (exited earlier and not restarted): nothing to stop, and
    // its earlier exit was already judged when it happened.
    if (!rec.proc && !rec.inline && !rec.worker) {
      if (rec.state !== 'failed') rec.state = 'stopped';
      return true;
    }
    rec.stopping = true;
    const pid = rec.proc?.pid;
    this.log.info({ child: rec.spec.id, pid, timeoutMs: rec.spec.shutdownTimeoutMs }, 'draining child');
    if (!this.command(rec, { type: 'drain' }) && rec.proc) {
      // No IPC (the child closed it): fall back to the signal it also drains on.
      try {
        rec.proc.kill('SIGTERM');
      } catch {
        // gone already
      }
    }
    let exit = await this.waitExit(rec, rec.spec.shutdownTimeoutMs);
    if (exit === null) {
      rec.stopTimedOut = true;
      this.log.warn({ child: rec.spec.id, pid, timeoutMs: rec.spec.shutdownTimeoutMs }, 'child did not stop in time, killing');
      this.kill(rec);
      exit = await this.waitExit(rec, 10_000);
      if (exit === null) {
        this.log.error({ child: rec.spec.id, pid }, 'child did not exit after SIGKILL');
        return false;
      }
      return false;
    }
    return exit.code === 0 && exit.signal === null;
  }

  private shutdown(reason: 'stopped' | 'escalated', detail: string): Promise<SupervisorOutcome> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (this.hangTimer) clearInterval(this.hangTimer);
      this.hangTimer = null;
      const unclean: string[] = [];
      for (const rec of [...this.records].reverse()) {
        const clean = await this.stopChild(rec);
        if (!clean) unclean.push(rec.spec.id);
      }
      let outcome: SupervisorOutcome;
      if (reason === 'escalated') outcome = { code: 1, reason, detail };
      else if (unclean.length > 0) outcome = { code: 1, reason: 'unclean-stop', detail: `children not stopped cleanly: ${unclean.join(', ')}` };
      else outcome = { code: 0, reason: 'stopped', detail };
      this.log[outcome.code === 0 ? 'info' : 'error']({ outcome }, 'supervisor stopped');
      this.resolveDone(outcome);
      return outcome;
    })();
    return this.stopping;
  }
}
