/**
 * Quick per-object-tick cost of the tracker's propagation path against the
 * satellite.js baseline (propagate + eciToGeodetic per object) and the
 * satellite.js 7 WASM BulkPropagator, on the shipped snapshot and on a
 * 100,000-object catalog made by repeating it. Prints figures only.
 *
 *   node dist/actors/tracker/bench-propagate.js [ticks]
 */
import { BulkPropagator, checkForDecay, createSingleThreadRuntime, EciBaseCalculator, eciToGeodetic, GeodeticPositionCalculator, GmstCalculator, gstime, propagate, type SatRec } from 'satellite.js';
import { loadSnapshot } from './snapshot.js';
import { createSatrec, elementSetFromTle, sgp4SemiMajorAxisKm, type ElementSet } from './element-set.js';
import { createStateBuffer, propagateBatch, STATE_STRIDE } from './propagate.js';
import { evaluateTick, type QaElementInfo } from './qa.js';

const TICKS = Number(process.argv[2] ?? 10);
const T0 = Date.UTC(2026, 4, 8, 0, 0, 0);

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function measure(label: string, n: number, tick: (tMs: number) => void): number {
  for (let w = 0; w < 3; w++) tick(T0 - (w + 1) * 1000); // warm up the JIT
  const c0 = cpuUs();
  const w0 = performance.now();
  for (let k = 0; k < TICKS; k++) tick(T0 + k * 1000);
  const cpu = (cpuUs() - c0) / TICKS;
  const wall = ((performance.now() - w0) * 1000) / TICKS;
  const per = cpu / n;
  console.log(`${label.padEnd(44)} n=${String(n).padStart(6)}  cpu/tick ${(cpu / 1000).toFixed(1).padStart(7)} ms  wall/tick ${(wall / 1000).toFixed(1).padStart(7)} ms  ${per.toFixed(3)} µs/object-tick`);
  return per;
}

async function run(): Promise<void> {
  const { records } = await loadSnapshot();
  const base = records.map((r) => elementSetFromTle(r));
  const runtime = await createSingleThreadRuntime();
  for (const n of [base.length, 100_000]) {
    const sets: ElementSet[] = Array.from({ length: n }, (_, i) => base[i % base.length]!);
    const satrecs: SatRec[] = sets.map((es) => createSatrec(es).satrec); // one SatRec per object, as each actor owns its own
    const infos: QaElementInfo[] = sets.map((es, i) => ({ eccentricity: es.eccentricity, meanMotionRevPerDay: es.meanMotionRevPerDay, semiMajorAxisKm: sgp4SemiMajorAxisKm(satrecs[i]!), epochMs: es.epochMs }));
    console.log(`--- ${n} objects, ${TICKS} ticks, node ${process.version}`);

    let sink = 0;
    const baseline = measure('baseline: satellite.js propagate+eciToGeodetic', n, (tMs) => {
      const date = new Date(tMs);
      const gmst = gstime(date);
      for (let i = 0; i < n; i++) {
        const pv = propagate(satrecs[i]!, date);
        if (pv) sink += eciToGeodetic(pv.position, gmst).height;
      }
    });

    const buf = createStateBuffer(n);
    const ours = measure('tracker propagateBatch (TEME+geodetic+speed)', n, (tMs) => {
      sink += propagateBatch(satrecs, n, tMs, buf.state, buf.errors);
    });

    const prev = createStateBuffer(n);
    const flags = new Uint16Array(n);
    let prevT = T0 - 1000;
    propagateBatch(satrecs, n, prevT, prev.state, prev.errors);
    let cur = buf;
    let old = prev;
    const withQa = measure('tracker propagateBatch + QA evaluateTick', n, (tMs) => {
      propagateBatch(satrecs, n, tMs, cur.state, cur.errors);
      for (let i = 0; i < n; i++) {
        const err = cur.errors[i]!;
        flags[i] = evaluateTick(cur.state, i * STATE_STRIDE, err, err === 0 && checkForDecay(satrecs[i]!), infos[i]!, tMs, old.state, i * STATE_STRIDE, prevT);
      }
      prevT = tMs;
      const t = cur;
      cur = old;
      old = t;
    });

    const bulk = new BulkPropagator({
      runtime,
      calculators: [new EciBaseCalculator(), new GmstCalculator(), new GeodeticPositionCalculator()] as const,
      satRecsCount: n,
      datesCount: 1,
    });
    try {
      const tSet = cpuUs();
      bulk.setSatRecs(satrecs);
      console.log(`${'  (WASM setSatRecs, once)'.padEnd(44)} ${((cpuUs() - tSet) / 1000).toFixed(1)} ms`);
      const wasm = measure('satellite.js WASM BulkPropagator eci+geodetic', n, (tMs) => {
        bulk.setDates([new Date(tMs)]);
        bulk.run();
        sink += bulk.getRawOutput().geodeticPosition[0]!;
      });
      console.log(`ratio baseline/ours ${(baseline / ours).toFixed(2)}x, baseline/(ours+QA) ${(baseline / withQa).toFixed(2)}x, baseline/WASM ${(baseline / wasm).toFixed(2)}x`);
    } finally {
      bulk.dispose();
    }
    console.log(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (sink ${sink > 0 ? '+' : '-'})`);
  }
}

await run();
