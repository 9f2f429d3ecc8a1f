import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffBound, nextDelay, validateBackoff, type BackoffPolicy } from '../../supervisor/backoff.js';

const full: BackoffPolicy = { baseMs: 100, maxMs: 1000, jitter: 'full' };

test('the bound doubles per attempt up to the cap', () => {
  const table: Array<[number, number]> = [
    [0, 100],
    [1, 200],
    [2, 400],
    [3, 800],
    [4, 1000],
    [50, 1000],
    [5000, 1000],
  ];
  for (const [attempt, bound] of table) assert.equal(backoffBound(full, attempt), bound, `attempt ${attempt}`);
});

test('full jitter spans [0, bound) and never exceeds it', () => {
  for (const [attempt, r, want] of [
    [0, 0, 0],
    [0, 0.5, 50],
    [0, 0.999, 99],
    [3, 0.5, 400],
    [9, 0.999, 999],
  ] as const) {
    assert.equal(nextDelay(full, attempt, 0, () => r), want);
  }
  for (let i = 0; i < 1000; i++) {
    const attempt = i % 12;
    const d = nextDelay(full, attempt);
    assert.ok(d >= 0 && d <= backoffBound(full, attempt), `attempt ${attempt}: ${d}`);
  }
});

test('decorrelated jitter grows from the previous delay and stays within [base, max]', () => {
  const p: BackoffPolicy = { baseMs: 100, maxMs: 1000, jitter: 'decorrelated' };
  assert.equal(nextDelay(p, 0, 0, () => 0.5), 100);
  assert.equal(nextDelay(p, 1, 200, () => 0.5), 350);
  assert.equal(nextDelay(p, 2, 900, () => 0.99), 1000);
  let prev = 0;
  for (let i = 0; i < 1000; i++) {
    prev = nextDelay(p, i, prev);
    assert.ok(prev >= 100 && prev <= 1000, String(prev));
  }
});

test('no jitter returns the bound; bad policies are refused', () => {
  assert.equal(nextDelay({ baseMs: 100, maxMs: 1000, jitter: 'none' }, 2), 400);
  assert.throws(() => validateBackoff({ baseMs: -1, maxMs: 10, jitter: 'full' }), /baseMs/);
  assert.throws(() => validateBackoff({ baseMs: 100, maxMs: 10, jitter: 'full' }), /maxMs/);
});
