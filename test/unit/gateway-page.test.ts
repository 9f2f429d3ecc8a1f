/**
 * The pieces the capped STAC pages are built from (actors/gateway/stac/page.ts,
 * actors/gateway/slice.ts): an item's served JSON spliced from its stored
 * text, the answer stream's slices (bounded, surrogate pairs never split),
 * and the slicer's yields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { itemParts, partsStream, SLICE_CHARS } from '../../actors/gateway/stac/page.js';
import { LoopSlicer } from '../../actors/gateway/slice.js';

test('itemParts splices the server links before the item\'s own links into the stored text, as valid JSON', () => {
  const body = '{"id": "a b", "type": "Feature", "properties": {"datetime": "2026-01-01T00:00:00Z"}, "collection": "imagery"}';
  const own = JSON.parse(itemParts('http://h', { collection: 'imagery', id: 'a b', body, links: '[{"rel": "license", "href": "https://l"}]', bytes: 1 }).join(''));
  assert.equal(own.id, 'a b');
  assert.deepEqual(own.properties, { datetime: '2026-01-01T00:00:00Z' });
  assert.deepEqual(
    own.links.map((l: { rel: string }) => l.rel),
    ['self', 'parent', 'collection', 'root', 'license'],
  );
  assert.equal(own.links[0].href, 'http://h/collections/imagery/items/a%20b');
  const none = JSON.parse(itemParts('http://h', { collection: 'imagery', id: 'x', body: '{"id": "x"}', links: '[]', bytes: 1 }).join(''));
  assert.equal(none.links.length, 4);
});

test('partsStream: every write at most SLICE_CHARS, small parts joined, surrogate pairs kept whole', async () => {
  const big = '😀'.repeat(SLICE_CHARS); // 2 × SLICE_CHARS UTF-16 units: cut mid-string
  const parts = ['{"a": "', 'é'.repeat(SLICE_CHARS + 1), '", "b": "', big, '", "c": 1}'];
  const chunks: Buffer[] = [];
  const sizes: number[] = [];
  for await (const c of partsStream(parts)) {
    chunks.push(c as Buffer);
    sizes.push((c as Buffer).toString('utf8').length);
  }
  assert.ok(sizes.every((n) => n <= SLICE_CHARS), `slices ${sizes.join(',')}`);
  assert.ok(sizes.length >= 4, 'large parts were cut');
  const out = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  assert.equal(out.b, big, 'no pair split into U+FFFD');
  assert.equal(out.a.length, SLICE_CHARS + 1);
  assert.equal(out.c, 1);
});

test('LoopSlicer yields once its slice of synchronous work is used, not before', async () => {
  const s = new LoopSlicer(5);
  await s.maybeYield();
  assert.equal(s.yields, 0, 'fresh slicer does not yield');
  const end = performance.now() + 6;
  while (performance.now() < end);
  let immediateRan = false;
  setImmediate(() => (immediateRan = true));
  await s.maybeYield();
  assert.equal(s.yields, 1);
  assert.ok(immediateRan, 'the event loop ran between slices');
});
