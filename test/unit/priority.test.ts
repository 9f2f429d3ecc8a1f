import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PriorityScheduler } from '../../actors/runtime/priority.js';
import type { QueueName } from '../../protocol/names.js';

function filled(n: number, concurrency = 1, weights?: Partial<Record<QueueName, number>>): PriorityScheduler<string> {
  const s = new PriorityScheduler<string>({ concurrency, ...(weights ? { weights } : {}) });
  for (let i = 0; i < n; i++) {
    s.push('weather', `w${i}`);
    s.push('satellite', `s${i}`);
    s.push('high', `h${i}`);
  }
  return s;
}

/** Take and immediately finish `n` tasks; the queues in the order they ran. */
function run(s: PriorityScheduler<string>, n: number): QueueName[] {
  const order: QueueName[] = [];
  for (let i = 0; i < n; i++) {
    const next = s.take();
    if (!next) break;
    order.push(next.queue);
    s.done();
  }
  return order;
}

test('with all three queues busy, every 12 picks are 8 high, 3 satellite, 1 weather', () => {
  const s = filled(100);
  const order = run(s, 120);
  for (let w = 0; w < 120; w += 12) {
    const window = order.slice(w, w + 12);
    assert.equal(window.filter((q) => q === 'high').length, 8, `window at ${w}: ${window.join(',')}`);
    assert.equal(window.filter((q) => q === 'satellite').length, 3);
    assert.equal(window.filter((q) => q === 'weather').length, 1);
  }
  assert.equal(order[0], 'high', 'the first pick goes to the highest priority');
});

test('the lowest queue is never starved: weather runs at least once in every 12 picks while high has work', () => {
  const s = filled(300);
  const order = run(s, 300);
  for (let i = 0; i + 12 <= order.length; i++) {
    assert.ok(order.slice(i, i + 12).includes('weather'), `no weather among picks ${i}..${i + 11}`);
  }
});

test('high drains first: mean pick index high < satellite < weather', () => {
  const s = filled(300);
  const order = run(s, 900);
  assert.equal(order.length, 900);
  const mean = (q: QueueName): number => {
    const idx = order.flatMap((x, i) => (x === q ? [i] : []));
    return idx.reduce((a, b) => a + b, 0) / idx.length;
  };
  assert.ok(mean('high') < mean('satellite'), `${mean('high')} < ${mean('satellite')}`);
  assert.ok(mean('satellite') < mean('weather'), `${mean('satellite')} < ${mean('weather')}`);
  const lastHigh = order.lastIndexOf('high');
  assert.ok(order.slice(0, lastHigh).includes('weather'), 'weather made progress before high was empty');
});

test('FIFO within a queue', () => {
  const s = new PriorityScheduler<number>({ concurrency: 1 });
  for (let i = 0; i < 20; i++) s.push('satellite', i);
  const got: number[] = [];
  for (let next = s.take(); next; next = s.take()) {
    got.push(next.item);
    s.done();
  }
  assert.deepEqual(got, [...Array(20).keys()]);
});

test('an idle queue cannot bank credit and burst later', () => {
  const s = new PriorityScheduler<string>({ concurrency: 1 });
  for (let i = 0; i < 50; i++) s.push('high', `h${i}`);
  run(s, 40); // weather is empty all this time
  for (let i = 0; i < 50; i++) s.push('weather', `w${i}`);
  const order = run(s, 10);
  assert.ok(order.filter((q) => q === 'weather').length <= 2, `weather burst: ${order.join(',')}`);
});

test('a lone queue gets every slot', () => {
  const s = new PriorityScheduler<string>({ concurrency: 1 });
  for (let i = 0; i < 10; i++) s.push('weather', `w${i}`);
  assert.deepEqual(run(s, 10), Array(10).fill('weather'));
});

test('the concurrency limit holds across queues', () => {
  const s = filled(10, 3);
  const a = s.take();
  const b = s.take();
  const c = s.take();
  assert.ok(a && b && c);
  assert.equal(s.take(), null, 'a fourth task must wait');
  assert.equal(s.running, 3);
  s.done();
  assert.ok(s.take());
  assert.throws(() => {
    const t = new PriorityScheduler<string>({ concurrency: 1 });
    t.done();
  });
});

test('clear() returns what is buffered, highest priority first, and leaves nothing', () => {
  const s = filled(2);
  const cleared = s.clear();
  assert.deepEqual(
    cleared.map((x) => x.queue),
    ['high', 'high', 'satellite', 'satellite', 'weather', 'weather'],
  );
  assert.equal(s.buffered(), 0);
  assert.equal(s.take(), null);
});

test('custom weights and invalid options', () => {
  const s = filled(50, 1, { high: 1, satellite: 1, weather: 1 });
  const order = run(s, 30);
  assert.equal(order.filter((q) => q === 'weather').length, 10);
  assert.throws(() => new PriorityScheduler({ concurrency: 0 }), RangeError);
  assert.throws(() => new PriorityScheduler({ concurrency: 1, weights: { high: 0 } }), RangeError);
  assert.throws(() => new PriorityScheduler<string>({ concurrency: 1 }).push('nope' as QueueName, 'x'), RangeError);
});
