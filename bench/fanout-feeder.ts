/**
 * bench:fanout's tracker stand-in: real 1 Hz tracker frames on NATS. It
 * propagates the shipped 15,347-object snapshot (SGP4, propagateBatch: the
 * tracker's own batch propagator) and publishes one encoded frame per shard
 * (protocol/frames/tracker-state.ts) on `<ns>.tracker.state.v1.<shard>`, like
 * a tracker host owning every shard. As the tracker does
 * (actors/tracker/service.ts), each tick is computed ahead of its instant T
 * and published at T, so tick→client delay measures the gateway, not SGP4.
 * Epochs are moved to an hour before the run so no object has decayed in
 * SGP4 (the snapshot is months old), as bench:tracking does.
 */
import { loadConfig } from '../config/load.js';
import { encodeTrackerFrame } from '../protocol/frames/tracker-state.js';
import { names as protocolNames } from '../protocol/names.js';
import { createTransport } from '../actors/runtime/transport/index.js';
import { shardOf } from '../actors/runtime/sharding.js';
import { createSatrec, elementSetFromOmm } from '../actors/tracker/element-set.js';
import { validateOmm } from '../actors/tracker/omm.js';
import { createStateBuffer, propagateBatch } from '../actors/tracker/propagate.js';
import { loadSnapshot } from '../actors/tracker/snapshot.js';

const cfg = loadConfig({ env: { ...process.env, STARWEATHER_LOG_LEVEL: 'warn' } as Record<string, string> });
const n = protocolNames(cfg.namespace);
const transport = await createTransport(cfg, {});
const snap = await loadSnapshot();
const epochMs = Date.now() - 3600_000;
const records = snap.records;
const satrecs = records.map((r) => {
  // The snapshot's mean elements at a recent epoch (OMM keys as CelesTrak spells them).
  const parsed = validateOmm(
    {
      OBJECT_NAME: r.name || `NORAD ${r.noradId}`,
      OBJECT_ID: r.intlDesignator || '2026-001A',
      EPOCH: new Date(epochMs).toISOString().replace('Z', ''),
      MEAN_MOTION: r.meanMotionRevPerDay,
      ECCENTRICITY: r.eccentricity,
      INCLINATION: r.inclinationDeg,
      RA_OF_ASC_NODE: r.raanDeg,
      ARG_OF_PERICENTER: r.argpDeg,
      MEAN_ANOMALY: r.meanAnomalyDeg,
      EPHEMERIS_TYPE: 0,
      CLASSIFICATION_TYPE: 'U',
      NORAD_CAT_ID: r.noradId,
      ELEMENT_SET_NO: 999,
      REV_AT_EPOCH: r.revNumber,
      BSTAR: r.bstar,
      MEAN_MOTION_DOT: r.ndotRevPerDay2,
      MEAN_MOTION_DDOT: r.nddotRevPerDay3,
    },
    1,
  );
  if (!parsed.ok) throw new Error(`snapshot object ${r.noradId}: ${parsed.rejection.reason}`);
  return createSatrec(elementSetFromOmm(parsed.value)).satrec;
});
const count = satrecs.length;
const buf = createStateBuffer(count);
const ids = new Uint32Array(records.map((r) => r.noradId));
const flags = new Uint32Array(count);
const byShard = new Map<number, number[]>();
records.forEach((r, i) => {
  const s = shardOf(String(r.noradId), cfg.cluster.shardCount);
  byShard.set(s, [...(byShard.get(s) ?? []), i]);
});

let stopped = false;
let ticks = 0;
let errors = 0;
let prepareMsTotal = 0;
let lateMsMax = 0;
process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') {
    stopped = true;
    void transport.close().finally(() => process.exit(0));
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
let T = Math.ceil(Date.now() / 1000) * 1000 + 1000;
process.send!({ type: 'ready', objects: count, shards: byShard.size });
while (!stopped) {
  const t0 = performance.now();
  propagateBatch(satrecs, count, T, buf.state, buf.errors);
  errors = 0;
  for (let i = 0; i < count; i++) {
    flags[i] = buf.errors[i] === 0 ? 0 : 1;
    if (buf.errors[i] !== 0) errors += 1;
  }
  const frames: Array<[number, Uint8Array]> = [];
  for (const [shard, idx] of byShard) frames.push([shard, encodeTrackerFrame(shard, T, { ids, flags, values: buf.state, count }, idx)]);
  prepareMsTotal += performance.now() - t0;
  await sleep(T - Date.now());
  const late = Date.now() - T;
  if (late > lateMsMax) lateMsMax = late;
  for (const [shard, f] of frames) transport.publish(n.subjects.trackerState(shard), f);
  ticks += 1;
  if (ticks % 5 === 0) process.send!({ type: 'progress', ticks, errors, prepareMsMean: prepareMsTotal / ticks, lateMsMax });
  T += 1000;
  // A tick that could not be prepared in time is skipped, like a tracker that falls behind.
  while (T - Date.now() < 50) T += 1000;
}
