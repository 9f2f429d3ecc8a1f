/**
 * Building dead-letter records for the NATS transport. The record is the
 * protocol's DeadLetter message; this module only fills it in safely from
 * whatever bytes the task had (which may not be JSON at all: a malformed task
 * is one of the reasons it is here).
 */
import { DeadLetterMessage, type DeadLetter } from '../../../protocol/messages/dead-letter.js';
import type { QueueName } from '../../../protocol/names.js';

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
  deliveries: number;
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
