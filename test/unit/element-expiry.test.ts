/**
 * States from elements older than their orbit regime's age limit are not
 * good (issue 16, part 2). Real snapshot records, a real TrackerTable tick;
 * the oracle is computed here from the TLE text itself: the epoch from line
 * 1 columns 19–32 (two-digit year, day of year with fraction), the regime
 * from line 2 (mean motion columns 53–63, eccentricity columns 27–33 with an
 * assumed decimal point), as the NORAD two-line format defines them
 * (CelesTrak, "FAQs: Two-Line Element Set Format").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../config/load.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { loadElementSet, TrackerActor } from '../../actors/tracker/tracker-actor.js';
import { TrackerTable } from '../../actors/tracker/tracker-table.js';
import * as qa from '../../actors/tracker/qa.js';
import { DEFAULT_QA_LIMITS, QA_ELEMENTS_EXPIRED, QA_FLAG_NAMES, QA_PHYSICAL_FAILURE, QA_STALE_EPOCH, isGood, qaFlagNames } from '../../actors/tracker/qa.js';
import { QA_FLAG_TABLE, QA_FLAGS_DOC } from '../../protocol/qa-flags.js';
import { qaLimitsFromConfig } from '../../actors/tracker/qa-config.js';
import { summariseElementAge } from '../../actors/tracker/catalog-age.js';
import type { TleRecord } from '../../actors/tracker/tle.js';

const DAY = 86_400_000;
/** The defaults the README documents, restated here rather than read from the code. */
const LIMIT_DAYS = { leo: 30, meo: 60, geo: 90, heo: 30 } as const;

/** Epoch of a TLE from line 1 columns 19–32: years 57–99 are 19xx, 00–56 are 20xx. */
function tleEpochMs(line1: string): number {
  const yy = Number(line1.slice(18, 20));
  const doy = Number(line1.slice(20, 32));
  const year = yy < 57 ? 2000 + yy : 1900 + yy;
  return Date.UTC(year, 0, 1) + (doy - 1) * DAY;
}

function regimeOf(line2: string): keyof typeof LIMIT_DAYS {
  const n = Number(line2.slice(52, 63));
  const e = Number(`0.${line2.slice(26, 33).trim()}`);
  if (e > 0.25) return 'heo';
  if (n > 11.25) return 'leo';
  if (n >= 0.9 && n <= 1.1) return 'geo';
  return 'meo';
}

let cached: TleRecord[] | null = null;
/** Every 15th snapshot record (~1,000 objects of every regime): fast, and real. */
async function sample(): Promise<TleRecord[]> {
  if (!cached) {
    const { records } = await loadSnapshot();
    cached = records.filter((_, i) => i % 15 === 0);
  }
  return cached;
}

function tableOf(records: readonly TleRecord[], limits = DEFAULT_QA_LIMITS): TrackerTable {
  const t = new TrackerTable(records.length, limits);
  records.forEach((r, i) => {
    const loaded = loadElementSet({ id: i + 1, noradId: r.noradId, epoch: new Date(r.epochMs), source: 'test', format: 'tle', omm: null, tleLine1: r.line1, tleLine2: r.line2 }, r.name);
    assert.ok(loaded.ok, `record ${r.noradId} loads`);
    t.add(new TrackerActor(r.noradId, 0, loaded));
  });
  return t;
}

test('the new bit is known to every QA table: names, bit count, not-good mask', () => {
  assert.equal(QA_ELEMENTS_EXPIRED, 1 << 10);
  assert.equal(QA_FLAG_NAMES[QA_ELEMENTS_EXPIRED], 'elements_expired');
  assert.deepEqual(qaFlagNames(QA_ELEMENTS_EXPIRED | QA_STALE_EPOCH), ['stale_epoch', 'elements_expired']);
  assert.equal(isGood(QA_STALE_EPOCH), true, 'stale_epoch alone stays a soft warning');
  assert.equal(isGood(QA_ELEMENTS_EXPIRED), false);
  assert.equal(QA_PHYSICAL_FAILURE & QA_ELEMENTS_EXPIRED, 0, 'an expired state is not a physical failure (drawn dimmed, not red)');
  assert.equal(new TrackerTable(16).tick(0).flagCounts.length, 11, 'per-bit counters cover bit 10');
  // The protocol's table is the tracker's: every QA_* bit constant has its row, and "not good" is the same set.
  const constants = Object.entries(qa).filter(([k, v]) => /^QA_[A-Z0-9_]+$/.test(k) && !['QA_PHYSICAL_FAILURE', 'QA_NOT_GOOD', 'QA_LAST_BIT', 'QA_FLAG_NAMES'].includes(k) && typeof v === 'number');
  assert.equal(constants.length, QA_FLAG_TABLE.length);
  for (const [k, v] of constants) {
    const row = QA_FLAG_TABLE.find((f) => 1 << f.bit === v);
    assert.ok(row, `${k} in protocol/qa-flags.ts`);
    assert.equal(`QA_${row.name.toUpperCase()}`, k);
  }
  assert.equal(qa.QA_NOT_GOOD, QA_FLAG_TABLE.filter((f) => !f.good).reduce((m, f) => m | (1 << f.bit), 0));
  assert.equal(qa.QA_LAST_BIT, 1 << Math.max(...QA_FLAG_TABLE.map((f) => f.bit)));
  assert.match(QA_FLAGS_DOC, /\| 10 \| 1024 \| `elements_expired` \| \*\*not good\*\* \|/);
});

for (const [label, offsetDays] of [
  ['one day after the snapshot', 1],
  ['45 days after the snapshot (LEO and HEO past, MEO and GEO within)', 45],
  ['on 2026-12-07 (the snapshot started seven months late)', null],
] as const) {
  test(`states past their regime limit are not good: ${label}`, async () => {
    const records = await sample();
    const snapshotDay = Math.max(...records.map((r) => tleEpochMs(r.line1)));
    const tMs = offsetDays === null ? Date.UTC(2026, 11, 7, 12) : Math.floor(snapshotDay / 1000) * 1000 + offsetDays * DAY;
    const table = tableOf(records);
    const res = table.tick(tMs);
    let expired = 0;
    let good = 0;
    const regimes = new Set<string>();
    for (const a of table.actors) {
      if (!a) continue;
      const f = table.flags[a.slot]!;
      const r = records.find((x) => x.noradId === a.noradId)!;
      const reg = regimeOf(r.line2);
      const ageDays = (tMs - tleEpochMs(r.line1)) / DAY;
      const want = Math.abs(ageDays) > LIMIT_DAYS[reg];
      assert.equal((f & QA_ELEMENTS_EXPIRED) !== 0, want, `${r.noradId} (${reg}, ${ageDays.toFixed(2)} d old): elements_expired`);
      // Good means: no physical failure and not expired; expired alone is enough to make it not good.
      assert.equal(isGood(f), !want && (f & QA_PHYSICAL_FAILURE) === 0, `${r.noradId}: good`);
      if (want) {
        expired++;
        regimes.add(`${reg}:expired`);
      } else regimes.add(`${reg}:ok`);
      if (isGood(f)) good++;
    }
    assert.equal(res.good, good, 'the tick counts the same good states');
    assert.equal(res.flagCounts[10], expired, 'the tick counts expired states under bit 10');
    if (offsetDays === 1) assert.equal(expired, 0);
    if (offsetDays === 45) {
      for (const k of ['leo:expired', 'meo:ok', 'geo:ok']) assert.ok(regimes.has(k), `${k} in the sample (${[...regimes].join(' ')})`);
    }
    if (offsetDays === null) {
      assert.equal(res.good, 0, 'every state from the seven-month-old snapshot is not good');
      const iss = table.actors.find((a) => a?.noradId === 25544);
      if (iss) assert.ok(table.flags[iss.slot]! & QA_ELEMENTS_EXPIRED, 'the ISS is not drawn as live');
    }
  });
}

test('the limits come from configuration (STARWEATHER_MAX_ELEMENT_AGE_DAYS_*), with bounds', async () => {
  const cfg = loadConfig({ env: { STARWEATHER_MAX_ELEMENT_AGE_DAYS_LEO: '400', STARWEATHER_MAX_ELEMENT_AGE_DAYS_GEO: '7' } });
  const limits = qaLimitsFromConfig(cfg);
  assert.deepEqual(limits.maxElementAgeDays, { leo: 400, meo: 60, geo: 7, heo: 30 });
  assert.throws(() => loadConfig({ env: { STARWEATHER_MAX_ELEMENT_AGE_DAYS_MEO: '0' } }), /MAX_ELEMENT_AGE_DAYS_MEO|maxElementAgeDaysMeo/);
  const records = (await sample()).filter((r) => regimeOf(r.line2) === 'leo').slice(0, 50);
  const tMs = Date.UTC(2026, 11, 7, 12);
  const res = tableOf(records, limits).tick(tMs);
  // 214-day-old LEO elements are within a 400-day limit.
  assert.equal(res.flagCounts[10], 0);
});

test('catalog element age: median and oldest epoch, expired by regime, against a sort done here', async () => {
  const records = await sample();
  const nowMs = Date.UTC(2026, 11, 7, 12);
  const s = summariseElementAge(
    records.map((r) => ({ epochMs: r.epochMs, eccentricity: r.eccentricity, meanMotionRevPerDay: r.meanMotionRevPerDay })),
    nowMs,
  );
  const epochs = records.map((r) => tleEpochMs(r.line1)).sort((a, b) => a - b);
  const n = epochs.length;
  const median = n % 2 ? epochs[(n - 1) / 2]! : (epochs[n / 2 - 1]! + epochs[n / 2]!) / 2;
  assert.equal(s.objects, n);
  // TLE epochs carry 1e-8 day (~1 ms); the summary rounds ages to 0.01 day.
  assert.ok(Math.abs(Date.parse(s.medianEpoch!) - median) <= 2, `median epoch ${s.medianEpoch} vs ${new Date(median).toISOString()}`);
  assert.ok(Math.abs(Date.parse(s.oldestEpoch!) - epochs[0]!) <= 2);
  assert.ok(Math.abs(s.medianAgeDays! - (nowMs - median) / DAY) <= 0.006);
  assert.ok(Math.abs(s.maxAgeDays! - (nowMs - epochs[0]!) / DAY) <= 0.006);
  const want = { leo: 0, meo: 0, geo: 0, heo: 0 };
  for (const r of records) {
    const reg = regimeOf(r.line2);
    if ((nowMs - tleEpochMs(r.line1)) / DAY > LIMIT_DAYS[reg]) want[reg]++;
  }
  for (const k of ['leo', 'meo', 'geo', 'heo'] as const) assert.equal(s.byRegime[k].expired, want[k], `${k} expired`);
  assert.equal(s.expired, want.leo + want.meo + want.geo + want.heo);
});
