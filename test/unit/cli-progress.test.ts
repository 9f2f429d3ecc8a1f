/**
 * The CLI's progress display (supervisor/progress.ts): rewritten in place on
 * a terminal, plain throttled lines otherwise, cleared before the result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PLAIN_EVERY_MS, ProgressLine, TTY_EVERY_MS, bar } from '../../actors/runtime/progress.js';

function sink(isTTY: boolean): { out: { isTTY: boolean; columns: number; write(s: string): void }; text: () => string } {
  let text = '';
  return { out: { isTTY, columns: 40, write: (s: string) => void (text += s) }, text: () => text };
}

test('not a terminal: one plain line per interval, never a carriage return', () => {
  let now = 0;
  const s = sink(false);
  const p = new ProgressLine('load', s.out, PLAIN_EVERY_MS, () => now);
  p.update('a');
  now += PLAIN_EVERY_MS - 1;
  p.update('b'); // too soon: dropped
  now += 1;
  p.update('c');
  p.end();
  assert.equal(s.text(), 'load: a\nload: c\n');
});

test('a terminal: the line is rewritten in place, cut to the width, and cleared at the end', () => {
  let now = 0;
  const s = sink(true);
  const p = new ProgressLine('load', s.out, PLAIN_EVERY_MS, () => now);
  p.update('x'.repeat(100));
  now += TTY_EVERY_MS;
  p.update('y');
  p.end();
  const parts = s.text().split('\r');
  assert.equal(parts[0], '');
  assert.equal(parts[1], `load: ${'x'.repeat(33)}\x1b[K`, 'cut to columns - 1');
  assert.equal(parts[2], 'load: y\x1b[K');
  assert.equal(parts[3], '\x1b[K', 'cleared');
});

test('bar: cells and percent from the fraction, clamped', () => {
  assert.equal(bar(0.5, 10), '[#####.....] 50%');
  assert.equal(bar(2, 4), '[####] 100%');
  assert.equal(bar(Number.NaN, 4), '[....] 0%');
});
