/**
 * Dead letters on the NATS transport: building the record (the protocol's
 * DeadLetter message, filled in safely from whatever bytes the task had,
 * which may not be JSON at all: a malformed task is one of the reasons it is
 * here), the exhausted-task sweep's rule, and the durable DLQ feed the
 * storage relay reads.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { StarWeatherError } from '../../../protocol/errors.js';
import { DeadLetterMessage, type DeadLetter } from '../../../protocol/messages/dead-letter.js';
import type { QueueName } from '../../../protocol/names.js';
import type { WorkConsumer } from '../../../protocol/transport.js';
import { backoffMs, describe } from './nats-errors.js';

const CODE_RE = /^SW_ERR_[A-Z_]+$/;
const MAX_REASON = 4000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** taskId and kind when the bytes are a JSON object carrying them; null otherwise. */
export function sniffTask(data: Uint8Array): { taskId: string | null; kind: string | null } {
  try {
    const v: unknown = JSON.parse(utf8.decode(data));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { taskId: null, kind: null };
    const o = v as Record<string, unknown>;
    return {
      taskId: typeof o.id === 'string' ? o.id : null,
      kind: typeof o.kind === 'string' ? o.kind : null,
    };
  } catch {
    return { taskId: null, kind: null };
  }
}

export interface DeadLetterInput {
  queue: QueueName;
  data: Uint8Array;
  code: string;
  reason: string;
  /** The observed delivery count (see deliveriesFrom); never a configured value. */
  deliveries: number;
  /** Where `deliveries` comes from: the delivery a handler held, or the server's MAX_DELIVERIES advisory. */
  deliveriesFrom: 'delivery' | 'advisory';
  /** The work message id it was delivered under. */
  msgId: string;
  /** Largest encoded record the server accepts (max_payload less header room). */
  maxBytes: number;
}

/**
 * The encoded DeadLetter. An invalid code becomes SW_ERR_HANDLER (the given
 * one is kept in the reason), and an original too large to fit the server's
 * max_payload once base64-encoded is cut, saying so in the reason, rather than
 * failing the dead-letter publish and leaving the task stuck.
 */
export function encodeDeadLetter(input: DeadLetterInput): Uint8Array {
  const { taskId, kind } = sniffTask(input.data);
  let reason = input.reason;
  let code = input.code;
  if (!CODE_RE.test(code)) {
    reason = `[${code}] ${reason}`;
    code = 'SW_ERR_HANDLER';
  }
  let original = input.data;
  const base: Omit<DeadLetter, 'original' | 'reason'> = {
    v: 1,
    queue: input.queue,
    taskId,
    kind,
    code,
    deliveries: Math.max(0, Math.floor(input.deliveries)),
    failedAt: new Date().toISOString(),
    msgId: input.msgId,
    deliveriesFrom: input.deliveriesFrom,
  };
  // base64 grows 4/3; keep 2 KiB for the other fields and room for a fully escaped reason.
  const room = Math.floor(((input.maxBytes - 2048 - MAX_REASON * 6) * 3) / 4);
  if (original.length > room) {
    reason = `[original truncated from ${original.length} to ${Math.max(0, room)} bytes] ${reason}`;
    original = original.subarray(0, Math.max(0, room));
  }
  if (reason.length > MAX_REASON) reason = reason.slice(0, MAX_REASON - 1) + '…';
  const record: DeadLetter = { ...base, reason, original: Buffer.from(original).toString('base64') };
  return DeadLetterMessage.encode(record);
}

export function deadLetterMsgId(queue: QueueName, msgId: string): string {
  return `dlq:${queue}:${msgId}`;
}

export interface ExhaustedAdvisory {
  streamSeq: number;
  /** The server's delivery count when it gave up. */
  deliveries: number;
}

/**
 * A MAX_DELIVERIES advisory's stream sequence and delivery count; null when
 * the payload is not one (both must be positive integers: the sweep acts on
 * nothing less than the server's own count).
 */
export function parseExhaustedAdvisory(payload: Uint8Array): ExhaustedAdvisory | null {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  const o = v as { stream_seq?: unknown; deliveries?: unknown };
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;
  if (!ok(o.stream_seq) || !ok(o.deliveries)) return null;
  return { streamSeq: o.stream_seq, deliveries: o.deliveries };
}

/**
 * The sweep's rule, on its own so it can be tested without a server: a
 * message still stored below the consumer's delivered sequence with nothing
 * pending moves to the DLQ only when the server said (a stored advisory) it
 * delivered it at least MaxDeliver times. Anything else (on NATS 2.9 a
 * message acked just before a kill -9 can stay stored) is not a dead letter.
 */
export function sweepVerdict(advisory: ExhaustedAdvisory | undefined, maxDeliver: number): 'dead-letter' | 'requeue' {
  return advisory !== undefined && advisory.deliveries >= maxDeliver ? 'dead-letter' : 'requeue';
}

/** The message id a requeued message is published under (unique, so the de-dup window does not drop it). */
export function requeueMsgId(msgId: string, seq: number): string {
  const base = msgId.length > 400 ? msgId.slice(0, 400) : msgId;
  return `${base}~rq${seq}`;
}

/** The `msgId` part of a DLQ record's Nats-Msg-Id (`dlq:<queue>:<msgId>`); null for anything else. */
export function workMsgIdOf(dlqMsgId: string | undefined, queue: string): string | null {
  const prefix = `dlq:${queue}:`;
  return dlqMsgId && dlqMsgId.startsWith(prefix) && dlqMsgId.length > prefix.length ? dlqMsgId.slice(prefix.length) : null;
}

export interface DeadLetterFeedOptions {
  js: JetStreamClient;
  stream: string;
  durable: string;
  handler: (dl: DeadLetter) => Promise<void>;
  onError(err: unknown): void;
}

/**
 * The durable feed of the DLQ stream behind NatsTransport.consumeDeadLetters:
 * a pull consumer shared by every relay process. A record is acked once the
 * handler resolved for it; a rejection is nak'ed with a growing delay (the
 * database may be down for minutes), so it comes back until it is recorded.
 * Records that are not DeadLetter messages are reported and terminated.
 */
export class DeadLetterFeed implements WorkConsumer {
  private stopped = false;
  private current: { stop(): void } | null = null;
  private done: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;

  constructor(private readonly o: DeadLetterFeedOptions) {}

  start(): void {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    for (let failures = 0; !this.stopped; ) {
      try {
        const consumer = await this.o.js.consumers.get(this.o.stream, this.o.durable);
        if (this.stopped) return;
        const messages = await consumer.consume({ max_messages: 16, expires: 5000 });
        this.current = messages;
        if (this.stopped) messages.stop();
        for await (const m of messages) {
          failures = 0;
          await this.handle(m);
          if (this.stopped) break;
        }
      } catch (err) {
        if (this.stopped) return;
        this.o.onError(err);
      } finally {
        this.current = null;
      }
      if (this.stopped) return;
      // The iterator ended (consumer deleted, connection closed) or failed: look the consumer up again.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs(failures++, 250, 5000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    let dl: DeadLetter;
    try {
      dl = DeadLetterMessage.decode(m.data);
    } catch (err) {
      this.o.onError(new StarWeatherError('SW_ERR_DECODE', `DLQ #${m.seq} on ${m.subject} is not a dead letter (dropped from the relay): ${describe(err)}`, { cause: err }));
      m.term();
      return;
    }
    if (dl.msgId === undefined) {
      const id = workMsgIdOf(m.headers?.get('Nats-Msg-Id'), dl.queue);
      if (id) dl = { ...dl, msgId: id };
    }
    try {
      await this.o.handler(dl);
    } catch (err) {
      this.o.onError(err);
      if (!this.stopped) m.nak(backoffMs(m.info.deliveryCount, 1000, 60_000));
      return;
    }
    m.ack();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.stop();
    this.wake?.();
    await this.done;
  }
}
