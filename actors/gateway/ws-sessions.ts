/**
 * Websocket sessions kept after their connection closes, so a client that
 * reconnects can `resume` (protocol/messages/ws.ts). Bounded three ways:
 * a parked session expires `ttlMs` after its connection closed, at most
 * `maxSessions` are parked (the oldest is dropped first), and the ids they
 * hold add up to at most `maxIds` (a subscription may list 10,000 ids).
 * Subscriptions are the fanout's shared objects, so parked sessions of one
 * subscription class cost one reference each, not a copy.
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from './subscription.js';

export interface SessionState {
  sub: Subscription | null;
  alerts: boolean;
  cluster: boolean;
}

interface Parked {
  state: SessionState;
  expiresAt: number;
  weight: number;
}

export interface SessionStoreOptions {
  ttlMs: number;
  maxSessions: number;
  /** Ids (and groups) summed over parked subscriptions. */
  maxIds: number;
}

/** 128 random bits, base64url: unguessable, so a session id is its own credential. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

function weightOf(s: SessionState): number {
  return 1 + (s.sub?.ids?.size ?? 0) + (s.sub?.groups?.size ?? 0);
}

export class SessionStore {
  /** Insertion order is park order: the first entry is the oldest. */
  private readonly parked = new Map<string, Parked>();
  private weight = 0;
  dropped = 0;

  constructor(private readonly o: SessionStoreOptions) {}

  /** Keep a closed connection's session for ttlMs. */
  park(id: string, state: SessionState, now = Date.now()): void {
    this.remove(id);
    if (this.o.ttlMs <= 0 || this.o.maxSessions <= 0) return;
    const p = { state, expiresAt: now + this.o.ttlMs, weight: weightOf(state) };
    this.parked.set(id, p);
    this.weight += p.weight;
    this.sweep(now);
    for (const oldest of this.parked.keys()) {
      if (this.parked.size <= this.o.maxSessions && this.weight <= this.o.maxIds) break;
      this.remove(oldest);
      this.dropped += 1;
    }
  }

  /** Take a parked session back (it is no longer parked); null when unknown or expired. */
  take(id: string, now = Date.now()): SessionState | null {
    const p = this.parked.get(id);
    if (!p) return null;
    this.remove(id);
    return p.expiresAt >= now ? p.state : null;
  }

  /** Drop expired sessions; returns how many. */
  sweep(now = Date.now()): number {
    let n = 0;
    // Park order is expiry order (one TTL): stop at the first live one.
    for (const [id, p] of this.parked) {
      if (p.expiresAt >= now) break;
      this.remove(id);
      n += 1;
    }
    return n;
  }

  size(): number {
    return this.parked.size;
  }

  private remove(id: string): void {
    const p = this.parked.get(id);
    if (!p) return;
    this.parked.delete(id);
    this.weight -= p.weight;
  }
}
