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
import { isIPv4, isIPv6 } from 'node:net';

export interface AuthFailureLimits {
  /** Failed key checks a client may make per window; the next request is refused. */
  maxFailures: number;
  windowMs: number;
  /** Clients tracked at once. */
  maxClients: number;
}

export const AUTH_FAILURE_LIMITS: AuthFailureLimits = { maxFailures: 20, windowMs: 60_000, maxClients: 10_000 };

/** The counting key of a client address: IPv4 as is (also when IPv4-mapped), IPv6 as its /64. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  const addr = ip.split('%')[0]!;
  if (!isIPv6(addr)) return ip;
  const [head = '', tail] = addr.split('::');
  const groups = (s: string): string[] => (s ? s.split(':') : []);
  // An embedded dotted IPv4 (only ever at the end) stands for two groups.
  const width = (g: string[]): number => g.reduce((n, x) => n + (x.includes('.') ? 2 : 1), 0);
  const h = groups(head);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - width(h) - width(groups(tail))).fill('0'), ...groups(tail)];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

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
