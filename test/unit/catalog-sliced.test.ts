/**
 * The pieces that keep a catalog load off the event loop's critical path:
 * the JSON element scanner agrees with JSON.parse on what is valid and what
 * the elements are (a table of tricky documents, then random documents and
 * random corruptions of them); the sliced parse gives the same result as the
 * one-call parse; the slicer yields and stops on abort; the retry delay
 * doubles, is capped and jittered within its bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { jsonArrayElements, type JsonElementStep } from '../../actors/ingest/catalog-json.js';
import { parseCatalogSliced, parseCatalogText } from '../../actors/ingest/catalog-parse.js';
import { SliceAbortedError, catalogSlicer } from '../../actors/ingest/catalog-slice.js';
import { retryDelayMs } from '../../actors/ingest/catalog-actor.js';
import { SNAPSHOT_PATH } from '../../actors/tracker/snapshot.js';
import { ommRecord } from '../integration/catalog-fixtures.js';

/** What the scanner makes of a document: the elements, or 'malformed'. */
function scan(text: string): unknown[] | 'malformed' {
  const out: unknown[] = [];
  for (const s of jsonArrayElements(text) as Iterable<JsonElementStep>) {
    if (s.kind === 'malformed') return 'malformed';
    if (s.kind === 'element') out.push(s.value);
    if (s.kind === 'oversized') throw new Error('unexpected oversized element');
  }
  return out;
}

/** What JSON.parse makes of it, in the same shape (a single value is one element). */
function oracle(text: string): unknown[] | 'malformed' {
  try {
    const doc: unknown = JSON.parse(text);
    return Array.isArray(doc) ? doc : [doc];
  } catch {
    return 'malformed';
  }
}

test('jsonArrayElements agrees with JSON.parse on a table of tricky documents', () => {
  const docs = [
    '[]',
    '[ ]',
    ' \n[]\r\n ',
    '[1]',
    '[1,2,3]',
    '[ {"a": "]"} , {"b": "[,{"} ]',
    '["quote \\" inside", "backslash \\\\", "both \\\\\\" end"]',
    '["\\\\"]',
    '[[1,[2,[3]]],{"x":[{"y":{}}]}]',
    '["ünïcødé ✓", "\\u005d"]',
    '{"NORAD_CAT_ID": 25544}',
    '"just a string"',
    '42',
    '[1,]',
    '[,1]',
    '[1 2]',
    '[1]x',
    '[1]]',
    ']',
    '[',
    '["abc',
    '[{"a":1]',
    '[{"a":1}}]',
    '{"a":1',
    '',
    '[1,,2]',
    '[{"a":"\\"}]',
  ];
  for (const d of docs) assert.deepEqual(scan(d), oracle(d), JSON.stringify(d));
});

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  const chars = ['a', '"', '\\', ']', '[', '{', '}', ',', ' ', 'é', '\n'];
  switch (k) {
    case 0:
      return Math.round(r() * 1e6) / 100;
    case 1:
      return Array.from({ length: Math.floor(r() * 8) }, () => chars[Math.floor(r() * chars.length)]).join('');
    case 2:
      return r() < 0.5 ? null : r() < 0.5;
    case 3:
      return -1 - Math.floor(r() * 100);
    case 4:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}${chars[Math.floor(r() * chars.length)]}`, randomValue(r, depth + 1)]));
  }
}

test('jsonArrayElements agrees with JSON.parse on random documents and random corruptions of them', () => {
  const r = prng(20261207);
  const pieces = ['[', ']', '{', '}', ',', '"', '\\', ' ', 'x', '1', ':'];
  for (let i = 0; i < 2000; i++) {
    const items = Array.from({ length: Math.floor(r() * 6) }, () => randomValue(r, 0));
    const pretty = r() < 0.5 ? JSON.stringify(items) : JSON.stringify(items, null, Math.floor(r() * 3));
    assert.deepEqual(scan(pretty), oracle(pretty), pretty);
    assert.notEqual(scan(pretty), 'malformed');
    // Corrupt one place: insert, delete or replace a structural character.
    const at = Math.floor(r() * (pretty.length + 1));
    const piece = pieces[Math.floor(r() * pieces.length)]!;
    const op = Math.floor(r() * 3);
    const bad = op === 0 ? pretty.slice(0, at) + piece + pretty.slice(at) : op === 1 ? pretty.slice(0, at) + pretty.slice(at + 1) : pretty.slice(0, at) + piece + pretty.slice(at + 1);
    assert.deepEqual(scan(bad), oracle(bad), bad);
  }
});

test('jsonArrayElements: an element over the cap is reported, not parsed; long text gives progress steps', () => {
  const doc = JSON.stringify([{ a: 1 }, { big: 'x'.repeat(5000) }, { b: 2 }]);
  const steps = [...jsonArrayElements(doc, { maxElementChars: 1000, progressEvery: 256 })];
  assert.deepEqual(
    steps.filter((s) => s.kind !== 'progress').map((s) => (s.kind === 'element' ? s.value : s.kind === 'oversized' ? ['oversized', s.index] : s)),
    [{ a: 1 }, ['oversized', 2], { b: 2 }],
  );
  const many = JSON.stringify(Array.from({ length: 3000 }, (_, i) => i));
  const progress = [...jsonArrayElements(many, { progressEvery: 256 })].filter((s) => s.kind === 'progress').length;
  assert.ok(progress >= many.length / 256 - 1, `${progress} progress steps over ${many.length} characters`);
});

test('the sliced parse gives what the one-call parse gives (TLE snapshot, OMM JSON with rejects, CSV)', async () => {
  const snapshot = readFileSync(SNAPSHOT_PATH, 'utf8');
  const json = JSON.stringify([ommRecord(100001), ommRecord(100002, { ECCENTRICITY: 1.2 }), 'not an object', ommRecord(100003, { MEAN_MOTION: 16.5, ECCENTRICITY: 0.5, MEAN_ANOMALY: 0 })]);
  const csv = 'OBJECT_NAME,OBJECT_ID,EPOCH,MEAN_MOTION,ECCENTRICITY,INCLINATION,RA_OF_ASC_NODE,ARG_OF_PERICENTER,MEAN_ANOMALY,NORAD_CAT_ID,BSTAR,MEAN_MOTION_DOT,MEAN_MOTION_DDOT\n' +
    'A,2026-100A,2026-05-07T12:00:00,15.5,0.0005,51.6,120.5,90.1,270.2,100001,0.0001,0.00001,0\n' +
    'B,2026-100B,2026-05-07T12:00:00,15.5,0.0005,51.6,120.5,90.1,270.2\n';
  for (const [text, format] of [[snapshot, '3le'], [json, 'json'], ['[{"oops', 'json'], [csv, 'csv']] as const) {
    const slicer = catalogSlicer({ sliceMs: 0 });
    const sliced = await parseCatalogSliced(text, format, slicer);
    assert.deepEqual(sliced, parseCatalogText(text, format), format);
    assert.ok(slicer.stats.slices > 0);
  }
  const j = parseCatalogText(json, 'json');
  assert.deepEqual(j.rejects.map((x) => [x.code, x.line]), [['OMM_RANGE', 2], ['OMM_NOT_OBJECT', 3], ['SGP4_INIT', 4]]);
  const c = parseCatalogText(csv, 'csv');
  assert.deepEqual([c.records.length, c.rejects.map((x) => [x.code, x.line])], [1, [['OMM_PARSE', 3]]]);
});

test('TimeSlicer: yields once a slice is used up, runs the per-slice hook, stops on abort', async () => {
  let hooks = 0;
  const ac = new AbortController();
  const slicer = catalogSlicer({ sliceMs: 0, afterSlice: async () => void hooks++ }, ac.signal);
  let ticks = 0;
  const iv = setInterval(() => ticks++, 0);
  try {
    const until = Date.now() + 50;
    while (Date.now() < until) await slicer.maybeYield();
  } finally {
    clearInterval(iv);
  }
  assert.ok(slicer.stats.slices > 5 && hooks === slicer.stats.slices);
  assert.ok(ticks > 0, 'timers ran between slices');
  ac.abort();
  await assert.rejects(slicer.yield(), SliceAbortedError);
});

test('retryDelayMs: doubles from the base, capped, jittered within [d/2, d]', () => {
  const cfg = { retryMs: 1000, retryMaxMs: 8000 };
  const table: Array<[number, number]> = [
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 8000],
    [60, 8000],
  ];
  for (const [failures, d] of table) {
    for (let i = 0; i < 50; i++) {
      const ms = retryDelayMs(cfg, failures);
      assert.ok(ms >= d / 2 && ms <= d, `failures ${failures}: ${ms} not in [${d / 2}, ${d}]`);
    }
  }
});
