/**
 * Core pub/sub for the embedded bus: mqemitter with NATS subject syntax.
 * mqemitter (through qlobber) takes the separator and wildcards as options,
 * so `.`, `*` and `>` are used directly; the one difference left is that
 * qlobber's multi-level wildcard also matches zero tokens (`a.>` would match
 * `a`), which NATS does not, so such subscriptions check the token count.
 *
 * Delivery is always asynchronous, like a publish that goes through a
 * server: publish() only appends to a batch that one setImmediate drains, so
 * a subscriber never runs inside its publisher's call stack.
 */
import mqemitter from 'mqemitter';
import { StarWeatherError } from '../../../protocol/errors.js';
import type { BusMessage, Subscription } from '../../../protocol/transport.js';

/** NATS' default max_payload: the embedded bus refuses what a server would. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

interface Envelope extends BusMessage {
  /** mqemitter routes on `topic`; it equals `subject`. */
  topic: string;
}

type Listener = (message: mqemitter.Message, done: () => void) => void;

function invalid(message: string): StarWeatherError {
  return new StarWeatherError('SW_ERR_INVALID_ARGUMENT', message);
}

function tokensOf(subject: unknown, what: string): string[] {
  if (typeof subject !== 'string' || subject.length === 0) throw invalid(`${what} must be a non-empty string`);
  if (/\s/.test(subject)) throw invalid(`${what} ${JSON.stringify(subject)} contains white space`);
  const tokens = subject.split('.');
  if (tokens.some((t) => t.length === 0)) throw invalid(`${what} ${JSON.stringify(subject)} has an empty token`);
  return tokens;
}

/** A subject one may publish on: tokens, no wildcards. */
export function assertPublishSubject(subject: unknown): asserts subject is string {
  const tokens = tokensOf(subject, 'subject');
  if (tokens.some((t) => t === '*' || t === '>')) throw invalid(`cannot publish on wildcard subject ${JSON.stringify(subject)}`);
}

/** A subscription subject: `*` is one whole token, `>` only the last token. Returns the token count. */
export function assertSubscribeSubject(subject: unknown): number {
  const tokens = tokensOf(subject, 'subscription subject');
  const gt = tokens.indexOf('>');
  if (gt !== -1 && gt !== tokens.length - 1) throw invalid(`'>' must be the last token of ${JSON.stringify(subject)}`);
  return tokens.length;
}

function countTokens(subject: string): number {
  let n = 1;
  for (let i = subject.indexOf('.'); i !== -1; i = subject.indexOf('.', i + 1)) n++;
  return n;
}

export class EmbeddedPubSub {
  private readonly emitter = mqemitter({ separator: '.', wildcardOne: '*', wildcardSome: '>', matchEmptyLevels: false });
  private pending: Envelope[] = [];
  private scheduled = false;
  private flushWaiters: (() => void)[] = [];
  private readonly onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void) {
    this.onError = onError;
  }

  publish(subject: string, data: Uint8Array): void {
    assertPublishSubject(subject);
    if (!(data instanceof Uint8Array)) throw invalid('data must be a Uint8Array');
    if (data.byteLength > MAX_PAYLOAD_BYTES) throw invalid(`payload of ${data.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
    // A copy, as a server would hand out: the publisher may reuse its buffer.
    // Buffer.from puts small payloads in Node's pooled slab (no ArrayBuffer each).
    this.pending.push({ topic: subject, subject, data: Buffer.from(data) });
    this.schedule();
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void): Subscription {
    const patternTokens = assertSubscribeSubject(subject);
    if (typeof handler !== 'function') throw invalid('handler must be a function');
    const needsCount = subject === '>' || subject.endsWith('.>');
    let active = true;
    const onError = this.onError;
    const listener: Listener = (message, done) => {
      done();
      if (!active) return;
      const env = message as Envelope;
      if (needsCount && countTokens(env.subject) < patternTokens) return;
      try {
        handler(env);
      } catch (err) {
        // A subscriber's bug must not stop delivery to the others.
        onError(err);
      }
    };
    this.emitter.on(subject, listener);
    return {
      unsubscribe: () => {
        if (!active) return;
        // mqemitter removes listeners on the next tick; the flag stops delivery now.
        active = false;
        this.emitter.removeListener(subject, listener);
      },
    };
  }

  /** Resolves once everything published so far has been handed to subscribers. */
  flush(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.emitter.close(() => resolve()));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (let i = 0; i < batch.length; i++) this.emitter.emit(batch[i]!);
    if (this.pending.length > 0) {
      // Subscribers published more while we drained: those go next turn.
      this.schedule();
      return;
    }
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  };
}
