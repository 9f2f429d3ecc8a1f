/**
 * The dashboard's filters and alert rows without a browser
 * (actors/gateway/ui/src/filters.ts, tle-regime.ts, alert-groups.ts):
 * name patterns, QA states, the regime read from real TLEs (held to the
 * test's own reading of the columns and Space-Track's regime bounds), the
 * counts per choice held to brute force (each choice applied on its own and
 * the matching objects counted), and alert folding and order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alertRows, groupMembers, type ShownAlert } from '../../actors/gateway/ui/src/alert-groups.js';
import { tleRegime } from '../../actors/gateway/ui/src/tle-regime.js';
import { namePattern, ObjectFilter, qaStates, type FilterState } from '../../actors/gateway/ui/src/filters.js';
import type { TrackedObject } from '../../actors/gateway/ui/src/state-store.js';
import { QA_DECAYED, QA_ELEMENTS_EXPIRED, QA_STALE_EPOCH } from '../../actors/tracker/qa.js';
import { snapshotRecords } from '../helpers/tracker-seed.js';

test('name patterns: * and ? anchored, else a case-insensitive substring; digits also match the id; regex characters are literal', () => {
  assert.ok(namePattern('starlink*')('STARLINK-1007', 1));
  assert.ok(!namePattern('starlink*')('X STARLINK', 1));
  assert.ok(namePattern('noaa ??')('NOAA 19', 1));
  assert.ok(!namePattern('noaa ??')('NOAA 199', 1));
  assert.ok(namePattern('zarya')('ISS (ZARYA)', 1));
  assert.ok(namePattern('(zarya)')('ISS (ZARYA)', 1));
  assert.ok(!namePattern('a.c')('ABC', 1));
  assert.ok(namePattern('25544')('ISS (ZARYA)', 25544));
  assert.ok(!namePattern('2554')('ISS (ZARYA)', 25544), 'digits match the whole id, as the search API does');
  assert.ok(namePattern('  ')('anything', 1));
});

test('QA states from flags: good; not good; expired elements are also not good', () => {
  assert.deepEqual(qaStates(0), ['good']);
  assert.deepEqual(qaStates(QA_STALE_EPOCH), ['good'], 'a stale epoch is a soft flag (qa.ts isGood)');
  assert.deepEqual(qaStates(QA_DECAYED), ['not-good']);
  assert.deepEqual(qaStates(QA_ELEMENTS_EXPIRED), ['not-good', 'expired']);
});

test('regime from a TLE line 2 agrees with the columns read here and Space-Track bounds (widened GEO band) for the shipped snapshot', async () => {
  const records = await snapshotRecords(3000);
  const seen = new Set<string>();
  for (const r of records) {
    const e = Number(`0.${r.line2.substring(26, 33)}`);
    const n = Number(r.line2.substring(52, 63));
    const want = e > 0.25 ? 'heo' : n > 11.25 ? 'leo' : n >= 0.9 && n <= 1.1 ? 'geo' : 'meo';
    assert.equal(tleRegime(r.line2), want, `${r.noradId} ${r.line2}`);
    seen.add(want);
  }
  assert.ok(seen.size >= 3, `regimes in the sample: ${[...seen]}`);
});

test('counts per choice equal brute force: each choice applied with the other filters as set, the matching objects counted', () => {
  // A deterministic spread of objects over groups, regimes, names and flags.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const regimes = ['leo', 'meo', 'geo', 'heo', null] as const;
  const groups = ['active', 'stations', 'weather', 'gnss'];
  const names = ['STARLINK-', 'NOAA ', 'COSMOS ', 'ISS '];
  const flags = [0, QA_STALE_EPOCH, QA_DECAYED, QA_ELEMENTS_EXPIRED];
  const f = new ObjectFilter();
  const objects: TrackedObject[] = [];
  for (let id = 1; id <= 400; id++) {
    objects.push({ id, flags: flags[Math.floor(rnd() * 4)]!, t0: 0, lat0: 0, lon0: 0, alt0: 500, t1: 0, lat1: 0, lon1: 0, alt1: 500, speed: 7.6 });
    if (id % 17 === 0) continue; // no metadata yet
    f.meta.set(id, { name: `${names[Math.floor(rnd() * 4)]}${id}`, groups: groups.filter(() => rnd() < 0.4), regime: regimes[Math.floor(rnd() * 5)]! });
  }
  const brute = (state: FilterState) => {
    const g = new ObjectFilter();
    g.meta = f.meta;
    g.set(state);
    return objects.filter(g.matches).length;
  };
  const states: FilterState[] = [
    { group: '', regime: '', pattern: '', qa: '' },
    { group: 'weather', regime: '', pattern: '', qa: '' },
    { group: '', regime: 'geo', pattern: 'noaa*', qa: '' },
    { group: 'active', regime: 'leo', pattern: '', qa: 'not-good' },
    { group: 'gnss', regime: 'meo', pattern: '3', qa: 'expired' },
  ];
  for (const state of states) {
    f.set(state);
    const c = f.counts(objects);
    const at = JSON.stringify(state);
    assert.equal(c.total, objects.length);
    assert.equal(c.shown, brute(state), `shown ${at}`);
    assert.equal(c.groupAll, brute({ ...state, group: '' }), `all groups ${at}`);
    for (const g of groups) assert.equal(c.group.get(g) ?? 0, brute({ ...state, group: g }), `group ${g} ${at}`);
    assert.equal(c.regimeAll, brute({ ...state, regime: '' }), `all regimes ${at}`);
    for (const r of ['leo', 'meo', 'geo', 'heo'] as const) assert.equal(c.regime[r], brute({ ...state, regime: r }), `regime ${r} ${at}`);
    assert.equal(c.qaAll, brute({ ...state, qa: '' }), `any QA ${at}`);
    for (const q of ['good', 'not-good', 'expired'] as const) assert.equal(c.qa[q], brute({ ...state, qa: q }), `qa ${q} ${at}`);
  }
  f.set({ group: '', regime: '', pattern: '', qa: '' });
  assert.equal(f.active, false);
});

test('alert rows: one kind and severity fold into one row with its count; a grouped alert expands to its objects; critical first, then storm warnings, then newest', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const alert = (id: string, kind: string, severity: ShownAlert['severity'], s: number, noradId: number | null = null, payload: Record<string, unknown> = {}): ShownAlert =>
    ({ v: 1, id, kind, severity, noradId, message: `${id} message`, raisedAt: at(s), payload }) as ShownAlert;
  const decays = Array.from({ length: 483 }, (_, i) => alert(`decay:${i + 1}`, 'decay', 'warning', 10 + (i % 30), i + 1));
  const input = [
    ...decays,
    alert('stale:run-1', 'decay-stale-elements', 'warning', 50, null, { noradIds: [5, 6, 7], objects: 3 }),
    alert('cyclone:1', 'storm.tropical-cyclone', 'critical', 1),
    alert('cyclone:2', 'storm.tropical-cyclone', 'warning', 45),
    alert('qa:1', 'tracker.qa', 'info', 55, 25544),
  ];
  const rows = alertRows(input);
  assert.deepEqual(rows.map((r) => `${r.severity}:${r.kind}`), ['critical:storm.tropical-cyclone', 'warning:storm.tropical-cyclone', 'info:tracker.qa', 'warning:decay-stale-elements', 'warning:decay']);
  const decay = rows.find((r) => r.kind === 'decay')!;
  assert.equal(decay.count, 483);
  assert.equal(decay.title, '483 objects decayed');
  assert.equal(decay.newestAt, Date.parse(at(39)));
  assert.deepEqual(groupMembers(decay)!.map((m) => m.noradId).sort((a, b) => a! - b!), decays.map((d) => d.noradId));
  const stale = rows.find((r) => r.kind === 'decay-stale-elements')!;
  assert.equal(stale.count, 3);
  assert.deepEqual(groupMembers(stale)!.map((m) => m.noradId), [5, 6, 7]);
  assert.equal(groupMembers(rows.find((r) => r.kind === 'tracker.qa')!), null, 'a single plain alert does not expand');
  // The critical cyclone is not folded under the warning one of the same kind.
  assert.equal(rows.filter((r) => r.kind === 'storm.tropical-cyclone').length, 2);
});
