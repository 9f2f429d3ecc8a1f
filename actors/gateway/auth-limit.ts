/**
 * Brute-force protection for the write key: failed key checks (missing or
 * wrong key) per client, in a fixed window. Past `maxFailures` the client
 * is refused on key-protected routes until its window ends, whatever key it
 * sends (auth.ts requireApiKey).
 *
 * It is separate from the global rate limit (@fastify/rate-limit) because
 * that one never sees a refused key: requireApiKey is a route hook and
 * answers before the rate limit's own hook runs, so an attacker had the
 * whole key space at network speed (700 guesses in 1.4 s, none refused).
 *
 * A client is its address, an IPv6 one its /64: one host usually owns a
 * whole /64, and counting single IPv6 addresses would give it 2^64 fresh
 * budgets. Per gateway, in memory, like the global limit; behind a reverse
 * proxy every client is the proxy unless fastify's trustProxy is set.
 * Memory is bounded: at most `maxClients` entries, least recently failed
 * dropped first, and expired ones swept as failures come in.
 */
import { clientKey } from './client-address.js';

export interface AuthFailureLimits {
  /** Failed key checks a client may make per window; the next request is refused. */
  maxFailures: number;
  windowMs: number;
  /** Clients tracked at once. */
  maxClients: number;
}

export const AUTH_FAILURE_LIMITS: AuthFailureLimits = { maxFailures: 20, windowMs: 60_000, maxClients: 10_000 };

interface Entry {
  start: number;
  failures: number;
}

export class AuthFailureLimiter {
  /** In order of last failure (a Map keeps insertion order; a failure re-inserts). */
  private readonly clients = new Map<string, Entry>();

  constructor(
    readonly limits: AuthFailureLimits = AUTH_FAILURE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `ip` may try again: 0 while it is under the limit. */
  retryAfterS(ip: string): number {
    const key = clientKey(ip);
    const e = this.clients.get(key);
    if (!e) return 0;
    const left = e.start + this.limits.windowMs - this.now();
    if (left <= 0) {
      this.clients.delete(key);
      return 0;
    }
    return e.failures >= this.limits.maxFailures ? Math.ceil(left / 1000) : 0;
  }

  /** Count a failed key check; returns the failures in the client's current window. */
  fail(ip: string): number {
    const key = clientKey(ip);
    const now = this.now();
    const old = this.clients.get(key);
    this.clients.delete(key);
    const e = old && now - old.start < this.limits.windowMs ? old : { start: now, failures: 0 };
    e.failures++;
    this.clients.set(key, e);
    for (const [k, x] of this.clients) {
      if (this.clients.size <= this.limits.maxClients && now - x.start < this.limits.windowMs) break;
      this.clients.delete(k);
    }
    return e.failures;
  }

  /** Clients tracked now. */
  get size(): number {
    return this.clients.size;
  }
}
