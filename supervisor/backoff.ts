/**
 * Restart delays: capped exponential backoff with jitter, so a crashing
 * child does not spin and several children (or nodes) restarted by the same
 * fault do not come back in lock-step.
 *
 * Source: Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture
 * Blog (2015). "Full jitter": sleep = random(0, min(cap, base * 2^attempt)).
 * "Decorrelated jitter": sleep = min(cap, random(base, previous * 3)).
 * Both are bounded by `maxMs`, which is what the restart tests assert.
 */
import { StarWeatherError } from '../protocol/errors.js';

export type JitterKind = 'full' | 'decorrelated' | 'none';

export interface BackoffPolicy {
  /** Delay scale of the first retry (attempt 0). */
  baseMs: number;
  /** No delay is ever longer than this. */
  maxMs: number;
  jitter: JitterKind;
}

/** The largest delay `nextDelay` can return for `attempt` (0-based). */
export function backoffBound(policy: BackoffPolicy, attempt: number): number {
  if (policy.jitter === 'decorrelated') return policy.maxMs;
  // 2^attempt overflows to Infinity for huge attempts; min() keeps it at the cap.
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
}

/**
 * Delay before retry number `attempt` (0-based). `previousMs` is the last
 * delay returned (decorrelated jitter grows from it). `random` is injectable
 * so tests can pin the jitter.
 */
export function nextDelay(policy: BackoffPolicy, attempt: number, previousMs = 0, random: () => number = Math.random): number {
  const { baseMs, maxMs } = policy;
  switch (policy.jitter) {
    case 'none':
      return backoffBound(policy, attempt);
    case 'full':
      return Math.floor(random() * backoffBound(policy, attempt));
    case 'decorrelated': {
      const upper = Math.max(baseMs, previousMs * 3);
      return Math.min(maxMs, Math.floor(baseMs + random() * (upper - baseMs)));
    }
  }
}

export function validateBackoff(policy: BackoffPolicy): void {
  if (!Number.isFinite(policy.baseMs) || policy.baseMs < 0) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `backoff baseMs must be ≥ 0 (got ${policy.baseMs})`);
  if (!Number.isFinite(policy.maxMs) || policy.maxMs < policy.baseMs) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `backoff maxMs must be ≥ baseMs (got ${policy.maxMs} < ${policy.baseMs})`);
}
