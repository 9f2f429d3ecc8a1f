/**
 * Shared bits for the NATS transport tests (not a test file itself):
 * fresh namespaces so parallel runs never share streams, a fast topology,
 * cleanup of everything a namespace created, and a bounded polling wait.
 */
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { names, QUEUES, type Names } from '../../protocol/names.js';
import type { TopologySettings } from '../../protocol/topology.js';

export const NATS_URL = process.env.SW_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export function freshNames(): Names {
  return names(`t${randomBytes(6).toString('hex')}`);
}

/** Short AckWait so redelivery tests take seconds, not minutes. */
export function fastTopology(over: Partial<TopologySettings> = {}): TopologySettings {
  return {
    ackWaitMs: 2000,
    maxDeliver: 3,
    dedupeWindowMs: 120_000,
    replicas: 1,
    deadLetterMaxAgeMs: 3600_000,
    ...over,
  };
}

/** Delete every stream (work queues, DLQ, KV buckets) of a namespace. Best effort. */
export async function deleteNamespace(servers: string | string[], n: Names): Promise<void> {
  let nc;
  try {
    nc = await connect({ servers, timeout: 3000, maxReconnectAttempts: 2 });
  } catch {
    return;
  }
  try {
    const jsm = await jetstreamManager(nc);
    const streams = [
      ...QUEUES.map((q) => n.streams.work(q)),
      n.streams.deadLetter,
      n.streams.advisories,
      `KV_${n.buckets.members}`,
      `KV_${n.buckets.leases}`,
      `KV_${n.buckets.shards}`,
    ];
    await Promise.all(streams.map((s) => jsm.streams.delete(s).catch(() => false)));
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
