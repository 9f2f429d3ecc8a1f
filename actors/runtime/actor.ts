/**
 * Actors: addressable entities (`kind/id`) with private state, a bounded
 * mailbox, and lifecycle hooks. One ActorSystem per host process holds many
 * of them, activates them on the first message, passivates them when idle,
 * and supervises their failures from outside (OTP/Akka style):
 *
 * - a handler that throws is a failure of that one message: it is logged,
 *   counted and dropped, and the actor keeps its state (`resume`);
 * - a handler that asks to crash (throws ActorCrashError, e.g. via
 *   `ctx.crash()`) gets a fresh behaviour from the factory and `onStart`
 *   again (`restart`), because its state may be what is broken;
 * - more than `maxRestarts` restarts within `restartWindowMs` (OTP's restart
 *   intensity, default 5 in 30 s) and the actor is stopped and reported
 *   rather than left to loop. Like an Akka sharded entity, a later message
 *   activates a fresh one.
 *
 * Passivation, stop and restarts run through the actor's own mailbox order,
 * so a hook never overlaps a message and two activations of one address
 * never run at once.
 */
import type { Logger } from 'pino';
import { ClosedError, StarWeatherError } from '../../protocol/errors.js';
import { Mailbox } from './mailbox.js';
import type { Metrics } from './metrics.js';

export interface ActorContext {
  readonly kind: string;
  readonly id: string;
  /** `kind/id`. */
  readonly address: string;
  readonly log: Logger;
  readonly system: ActorSystem;
  /** Abandon this message and restart the actor with fresh state. */
  crash(reason: string, cause?: unknown): never;
}

export interface ActorBehaviour<M = unknown, R = unknown> {
  onStart?(ctx: ActorContext): void | Promise<void>;
  /** Called for one message at a time, in mailbox order. Its result answers `ask`. */
  onMessage(msg: M, ctx: ActorContext): R | Promise<R>;
  /** Idle for `idleMs`: save what must outlive the activation. Followed by onStop. */
  onPassivate?(ctx: ActorContext): void | Promise<void>;
  onStop?(ctx: ActorContext): void | Promise<void>;
}

export type Directive = 'resume' | 'restart' | 'stop';

export interface ActorKindSpec<M = unknown, R = unknown> {
  factory(id: string): ActorBehaviour<M, R>;
  /** Messages waiting per actor before senders are held back. Default 1000. */
  mailboxSize?: number;
  /** Passivate after this long without a message; 0 = never. Default 0. */
  idleMs?: number;
  /** Restart intensity: more than this many restarts in the window stops the actor. Default 5. */
  maxRestarts?: number;
  /** Default 30 000 ms. */
  restartWindowMs?: number;
  /** Bound on each lifecycle hook and on waiting for the current message when stopping. Default 5000 ms. */
  stopTimeoutMs?: number;
  /** Decide what a failure means. Default: ActorCrashError → restart, anything else → resume. */
  supervise?(err: unknown): Directive;
}

/** Thrown by a behaviour (or `ctx.crash`) to ask for a restart with fresh state. */
export class ActorCrashError extends StarWeatherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SW_ERR_HANDLER', message, options);
  }
}

/** An actor exceeded its restart intensity and was stopped. */
export class ActorEscalatedError extends StarWeatherError {
  readonly address: string;
  constructor(address: string, restarts: number, windowMs: number, options?: { cause?: unknown }) {
    super('SW_ERR_ESCALATED', `actor ${address} restarted more than ${restarts} times in ${windowMs} ms; stopped`, options);
    this.address = address;
  }
}

const KIND_RE = /^[a-z][a-z0-9._-]{0,63}$/;
const MAX_ID_LENGTH = 200;

export function actorAddress(kind: string, id: string): string {
  return `${kind}/${id}`;
}

/** Split `kind/id` (the id may itself contain `/`). Throws SW_ERR_INVALID_ARGUMENT. */
export function parseAddress(address: string): { kind: string; id: string } {
  const slash = typeof address === 'string' ? address.indexOf('/') : -1;
  const kind = slash > 0 ? address.slice(0, slash) : '';
  const id = slash > 0 ? address.slice(slash + 1) : '';
  if (!KIND_RE.test(kind) || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `actor address must be "kind/id" with kind ${KIND_RE} and a 1-${MAX_ID_LENGTH} character id (got ${JSON.stringify(address)})`);
  }
  return { kind, id };
}

export interface ActorSystemOptions {
  logger: Logger;
  metrics?: Metrics;
  /** Added to the logger as `host`. */
  hostId?: string;
  /** An actor exceeded its restart intensity (it has been stopped). */
  onEscalate?(address: string, err: ActorEscalatedError): void;
}

export interface TellOptions {
  /** Reject with MailboxFullError if the mailbox stays full this long; default: wait. */
  timeoutMs?: number;
}

type Envelope =
  | { t: 'msg'; msg: unknown; reply?: { resolve(v: unknown): void; reject(err: unknown): void } }
  | { t: 'passivate' };

interface Resolved {
  maxRestarts: number;
  restartWindowMs: number;
  idleMs: number;
  mailboxSize: number;
  stopTimeoutMs: number;
  spec: ActorKindSpec;
}

class ActorCell {
  behaviour: ActorBehaviour | null = null;
  state: 'running' | 'stopping' | 'stopped' = 'running';
  readonly mailbox: Mailbox<Envelope>;
  readonly ctx: ActorContext;
  private restarts: number[] = [];
  private idleTimer: NodeJS.Timeout | undefined;
  stopped: Promise<void> | undefined;

  constructor(
    readonly system: ActorSystem,
    readonly kind: string,
    readonly id: string,
    readonly address: string,
    readonly kindSpec: Resolved,
    readonly log: Logger,
    private readonly metrics: Metrics | undefined,
  ) {
    this.mailbox = new Mailbox<Envelope>({
      address,
      capacity: kindSpec.mailboxSize,
      process: (env) => this.process(env),
      onError: (err) => this.log.error({ err }, 'actor mailbox processing failed'),
      onRejected: () => this.metrics?.mailboxRejected.inc({ kind }),
    });
    this.ctx = {
      kind,
      id,
      address,
      log,
      system,
      crash(reason: string, cause?: unknown): never {
        throw new ActorCrashError(reason, { cause });
      },
    };
  }

  private async process(env: Envelope): Promise<void> {
    if (this.state !== 'running') {
      if (env.t === 'msg') env.reply?.reject(new ClosedError(`actor ${this.address}`));
      return;
    }
    if (env.t === 'passivate') {
      // A message that arrived while the passivation was queued wins.
      if (this.mailbox.size > 0 || this.behaviour === null) return;
      this.log.debug('passivating');
      await this.hook('onPassivate');
      await this.deactivate();
      this.system._removeIfIdle(this);
      return;
    }
    if (this.behaviour === null) {
      try {
        await this.activate();
      } catch (err) {
        // The message is refused; the next one retries the activation, and
        // each failed start counts towards the restart intensity.
        env.reply?.reject(err);
        this.discard();
        this.metrics?.actorFailures.inc({ kind: this.kind, directive: 'restart' });
        if (!this.escalateIfTooMany(err)) this.log.error({ err }, 'actor failed to start');
        return;
      }
    }
    const behaviour = this.behaviour!;
    try {
      const result = await behaviour.onMessage(env.msg, this.ctx);
      env.reply?.resolve(result);
    } catch (err) {
      env.reply?.reject(err);
      await this.failed(err, this.kindSpec.spec.supervise ? this.kindSpec.spec.supervise(err) : err instanceof ActorCrashError ? 'restart' : 'resume');
    }
    this.armIdleTimer();
  }

  private async activate(): Promise<void> {
    const behaviour = this.kindSpec.spec.factory(this.id);
    this.behaviour = behaviour;
    this.metrics?.actorsActive.inc({ kind: this.kind });
    if (behaviour.onStart) await this.withTimeout(Promise.resolve(behaviour.onStart(this.ctx)), 'onStart');
  }

  private async deactivate(): Promise<void> {
    this.clearIdleTimer();
    if (this.behaviour === null) return;
    await this.hook('onStop');
    this.behaviour = null;
    this.metrics?.actorsActive.dec({ kind: this.kind });
  }

  private async failed(err: unknown, directive: Directive): Promise<void> {
    this.metrics?.actorFailures.inc({ kind: this.kind, directive });
    if (directive === 'resume') {
      this.log.warn({ err }, 'actor message failed; message dropped, actor resumes');
      return;
    }
    if (directive === 'stop') {
      this.log.error({ err }, 'actor failed; stopping it');
      // Not awaited: stop waits for the current message, which is this one.
      void this.system.stop(this.address);
      return;
    }
    if (this.escalateIfTooMany(err)) return;
    this.log.warn({ err }, 'actor crashed; restarting with fresh state');
    await this.deactivate();
    try {
      await this.activate();
    } catch (startErr) {
      this.discard();
      this.log.error({ err: startErr }, 'actor restart failed in onStart; the next message retries it');
    }
  }

  /** Record a restart; true (and the actor is being stopped) when over the intensity. */
  private escalateIfTooMany(err: unknown): boolean {
    const now = Date.now();
    const { maxRestarts, restartWindowMs } = this.kindSpec;
    this.restarts = this.restarts.filter((t) => now - t < restartWindowMs);
    this.restarts.push(now);
    if (this.restarts.length <= maxRestarts) return false;
    const escalated = new ActorEscalatedError(this.address, maxRestarts, restartWindowMs, { cause: err });
    this.log.error({ err: escalated }, 'actor restart intensity exceeded; stopping it');
    void this.system.stop(this.address).then(() => this.system._escalated(this.address, escalated));
    return true;
  }

  /** Drop a behaviour whose start failed, without calling its onStop. */
  private discard(): void {
    if (this.behaviour === null) return;
    this.behaviour = null;
    this.metrics?.actorsActive.dec({ kind: this.kind });
  }

  /** Stop after the current message; messages still waiting are refused. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.state = 'stopping';
    this.clearIdleTimer();
    const dropped = this.mailbox.close();
    for (const env of dropped) if (env.t === 'msg') env.reply?.reject(new ClosedError(`actor ${this.address}`));
    if (dropped.length > 0) this.log.warn({ dropped: dropped.length }, 'actor stopped with messages waiting; they are dropped');
    this.stopped = (async () => {
      await this.withTimeout(this.mailbox.idle(), 'current message').catch((err) => this.log.error({ err }, 'stopping without waiting for the current message'));
      await this.deactivate();
      this.state = 'stopped';
    })();
    return this.stopped;
  }

  private async hook(name: 'onPassivate' | 'onStop'): Promise<void> {
    const fn = this.behaviour?.[name];
    if (!fn) return;
    try {
      await this.withTimeout(Promise.resolve(fn.call(this.behaviour, this.ctx)), name);
    } catch (err) {
      this.log.error({ err }, `actor ${name} failed`);
    }
  }

  private withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.kindSpec.stopTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StarWeatherError('SW_ERR_TIMEOUT', `${what} of ${this.address} took longer than ${ms} ms`)), ms);
      // An abandoned hook must not keep a shutting-down process alive.
      timer.unref();
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private armIdleTimer(): void {
    if (this.kindSpec.idleMs <= 0 || this.state !== 'running') return;
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.state === 'running' && !this.mailbox.busy && this.mailbox.size === 0) {
        this.mailbox.trySend({ t: 'passivate' });
      }
    }, this.kindSpec.idleMs);
    // Idle actors must not keep a draining process alive.
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

export class ActorSystem {
  private readonly kinds = new Map<string, Resolved>();
  /** Insertion order is activation order; stopAll walks it backwards. */
  private readonly cells = new Map<string, ActorCell>();
  private readonly log: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly onEscalate: ActorSystemOptions['onEscalate'];
  private closing = false;

  constructor(options: ActorSystemOptions) {
    this.log = options.hostId !== undefined ? options.logger.child({ host: options.hostId }) : options.logger;
    this.metrics = options.metrics;
    this.onEscalate = options.onEscalate;
  }

  register<M, R>(kind: string, spec: ActorKindSpec<M, R>): void {
    if (!KIND_RE.test(kind)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `actor kind must match ${KIND_RE} (got ${JSON.stringify(kind)})`);
    if (this.kinds.has(kind)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `actor kind ${kind} registered twice`);
    const positive = (name: string, v: number | undefined, def: number, min: number): number => {
      const x = v ?? def;
      if (!Number.isFinite(x) || x < min) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `${kind}: ${name} must be a number >= ${min} (got ${x})`);
      return x;
    };
    this.kinds.set(kind, {
      spec: spec as ActorKindSpec,
      mailboxSize: positive('mailboxSize', spec.mailboxSize, 1000, 1),
      idleMs: positive('idleMs', spec.idleMs, 0, 0),
      maxRestarts: positive('maxRestarts', spec.maxRestarts, 5, 0),
      restartWindowMs: positive('restartWindowMs', spec.restartWindowMs, 30_000, 1),
      stopTimeoutMs: positive('stopTimeoutMs', spec.stopTimeoutMs, 5000, 1),
    });
  }

  /** Deliver a message, activating the actor if needed; waits while its mailbox is full. */
  async tell(address: string, msg: unknown, options: TellOptions = {}): Promise<void> {
    const cell = await this.cellFor(address);
    await cell.mailbox.send({ t: 'msg', msg }, options);
  }

  /** Deliver only if there is room now; false when the mailbox is full (counted) or the actor is stopping. */
  tryTell(address: string, msg: unknown): boolean {
    if (this.closing) return false;
    const existing = this.cells.get(address);
    if (existing && existing.state !== 'running') return false;
    const cell = existing ?? this.createCell(address);
    return cell.mailbox.trySend({ t: 'msg', msg });
  }

  /** Send and wait for onMessage's result (or its error). */
  async ask<R = unknown>(address: string, msg: unknown, timeoutMs = 5000): Promise<R> {
    const cell = await this.cellFor(address);
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StarWeatherError('SW_ERR_TIMEOUT', `ask ${address}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const reply = {
        resolve: (v: unknown) => {
          clearTimeout(timer);
          resolve(v as R);
        },
        reject: (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      cell.mailbox.send({ t: 'msg', msg, reply }, { timeoutMs }).catch(reply.reject);
    });
  }

  /** Stop one actor after its current message; false if it was not active. */
  async stop(address: string): Promise<boolean> {
    const cell = this.cells.get(address);
    if (!cell) return false;
    await cell.stop();
    if (this.cells.get(address) === cell) this.cells.delete(address);
    return true;
  }

  /** Refuse new messages, then stop every actor in reverse activation order, within `timeoutMs` overall. */
  async stopAll(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + timeoutMs;
    const cells = [...this.cells.values()].reverse();
    for (const [i, cell] of cells.entries()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.log.error({ remaining: cells.length - i }, 'stopAll: out of time; abandoning the remaining actors');
        for (const c of cells.slice(i)) c.stop().catch(() => {});
        break;
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        cell.stop().then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), left))),
      ]);
      clearTimeout(timer);
      if (timedOut) this.log.error({ actor: cell.address }, 'stopAll: actor did not stop in time');
    }
    this.cells.clear();
  }

  has(address: string): boolean {
    return this.cells.has(address);
  }

  count(kind?: string): number {
    if (kind === undefined) return this.cells.size;
    let n = 0;
    for (const c of this.cells.values()) if (c.kind === kind) n++;
    return n;
  }

  list(kind?: string): string[] {
    const out: string[] = [];
    for (const c of this.cells.values()) if (kind === undefined || c.kind === kind) out.push(c.address);
    return out;
  }

  /** @internal Called by a cell after passivation. */
  _removeIfIdle(cell: ActorCell): void {
    if (cell.mailbox.size === 0 && cell.mailbox.waiting === 0 && this.cells.get(cell.address) === cell) {
      this.cells.delete(cell.address);
      cell.mailbox.close();
      cell.state = 'stopped';
    }
  }

  /** @internal */
  _escalated(address: string, err: ActorEscalatedError): void {
    try {
      this.onEscalate?.(address, err);
    } catch (cbErr) {
      this.log.error({ err: cbErr, actor: address }, 'onEscalate listener failed');
    }
  }

  private async cellFor(address: string): Promise<ActorCell> {
    for (;;) {
      if (this.closing) throw new ClosedError('actor system');
      const cell = this.cells.get(address);
      if (!cell) return this.createCell(address);
      if (cell.state === 'running') return cell;
      // Wait for the old activation to finish stopping, so two never overlap.
      await cell.stop();
      if (this.cells.get(address) === cell) this.cells.delete(address);
    }
  }

  private createCell(address: string): ActorCell {
    const { kind, id } = parseAddress(address);
    const spec = this.kinds.get(kind);
    if (!spec) throw new StarWeatherError('SW_ERR_NOT_FOUND', `no actor kind ${JSON.stringify(kind)} is registered`);
    const cell = new ActorCell(this, kind, id, address, spec, this.log.child({ actor: address }), this.metrics);
    this.cells.set(address, cell);
    return cell;
  }
}
