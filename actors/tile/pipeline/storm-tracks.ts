/**
 * Tropical-cyclone tracks across scenes: each fix a finished scene finds is
 * associated with a storm track, and the track's intensity follows the ADT
 * time rules (physics/adt-time.ts) over all its fixes.
 *
 * Where it runs, and why it is race-free: in the finalize of a scene, in one
 * database transaction that first takes the row lock of the fix's basin
 * (storage/storms.ts lockBasin). Finalize tasks are at-least-once and run on
 * any tile host at once; two scenes of one basin could otherwise both see
 * "no track nearby" and open two tracks for one storm. With the lock they
 * associate one after the other, each seeing the other's committed fix; a
 * crash before COMMIT leaves nothing, and a redelivery finds its fix by the
 * natural key (scene, 0.1° cell) and writes nothing. A storm actor per track
 * would need a lease and its own recovery for the same guarantee; the lock
 * is held for a few small statements per fix, basins are few, and the
 * database is already the shared state every host has.
 *
 * Scenes may finish out of time order (tiles of a later scene finish first),
 * so the track is re-analysed from all its fixes in time order after every
 * insert: the intensities do not depend on arrival order.
 */
import type { Database, Queryable } from '../../storage/db.js';
import { createTrack, fixTrack, getTrack, insertFix, lockBasin, nearbyFixes, trackFixes, updateFixIntensity, updateTrack, type StormFixRow, type StormTrackRow } from '../../storage/storms.js';
import { analyseTrack } from '../physics/adt-time.js';
import { basinFor, ciToIntensity } from '../physics/dvorak.js';
import type { CycloneFix } from '../types.js';
import { greatCircleKm } from './finalize-scene.js';
import { cycloneCellId } from './outputs.js';

/**
 * Association gate: a fix joins the nearest track whose fix nearest in time
 * lies within GATE_BASE_KM + GATE_SPEED_KMH·Δt (capped at GATE_MAX_KM).
 * The base covers the fix error of two images (the CDO centre is uncertain
 * by tens of km); 90 km/h is above the fastest tropical-cyclone translation
 * speeds in the best-track record (~25 m/s, recurving storms at higher
 * latitudes), so a real storm is never lost between scenes an hour apart.
 */
export const GATE_BASE_KM = 75;
export const GATE_SPEED_KMH = 90;
export const GATE_MAX_KM = 900;
/** A track with no fix for 24 h is over: the ADT restarts a storm after a 24-h gap too. */
export const TRACK_GAP_HOURS = 24;

export function gateKm(hours: number): number {
  return Math.min(GATE_MAX_KM, GATE_BASE_KM + GATE_SPEED_KMH * Math.abs(hours));
}

/**
 * The lock and association unit. Tropical cyclones do not cross the equator,
 * so the hemispheres are apart; the NW Pacific is the ADT's own domain
 * (basinFor). Coarser than the agencies' basins on purpose: the distance gate
 * separates storms, the basin only bounds what one lock serialises.
 */
export function stormBasin(lat: number, lon: number): string {
  return `${lat >= 0 ? 'n' : 's'}-${basinFor(lat, lon) === 'nw_pacific' ? 'wpac' : 'other'}`;
}

export interface SceneRef {
  collection: string;
  itemId: string;
  platform: string;
  observedAt: Date;
}

export interface TrackedFix {
  track: StormTrackRow;
  fix: StormFixRow;
  /** False when this (scene, fix) was already stored: a replay. */
  isNew: boolean;
}

export function sceneKey(s: Pick<SceneRef, 'collection' | 'itemId'>): string {
  return `${s.collection}/${s.itemId}`;
}

/** Track ids name the basin, the first fix's time and place: e.g. TC-n-other-20260815T1800Z-18.0N060.0W. */
export function trackId(basin: string, at: Date, lat: number, lon: number): string {
  const t = at.toISOString().replace(/[-:]/g, '').slice(0, 13) + 'Z';
  const la = `${Math.abs(lat).toFixed(1)}${lat >= 0 ? 'N' : 'S'}`;
  const lo = `${Math.abs(lon).toFixed(1).padStart(5, '0')}${lon >= 0 ? 'E' : 'W'}`;
  return `TC-${basin}-${t}-${la}${lo}`;
}

/** Associates one fix of a scene with a track (new or existing) and re-analyses the track. */
export async function trackFix(db: Database, scene: SceneRef, c: CycloneFix): Promise<TrackedFix> {
  const key = sceneKey(scene);
  const cell = cycloneCellId(c.lat, c.lon);
  const basin = stormBasin(c.lat, c.lon);
  return db.transaction(async (tx) => {
    await lockBasin(tx, basin);
    const existing = await fixTrack(tx, key, cell);
    if (existing) return { ...(await current(tx, existing, key, cell)), isNew: false };
    const t = scene.observedAt.getTime();
    // Nearest track, measured to each track's fix nearest in time.
    const near = new Map<string, StormFixRow>();
    for (const f of await nearbyFixes(tx, basin, scene.observedAt, TRACK_GAP_HOURS, key)) {
      const prev = near.get(f.trackId);
      if (!prev || Math.abs(f.observedAt.getTime() - t) < Math.abs(prev.observedAt.getTime() - t)) near.set(f.trackId, f);
    }
    let best: { id: string; d: number } | null = null;
    for (const [id, f] of near) {
      const d = greatCircleKm(c.lat, c.lon, f.lat, f.lon);
      if (d <= gateKm((t - f.observedAt.getTime()) / 3_600_000) && (!best || d < best.d || (d === best.d && id < best.id))) best = { id, d };
    }
    const b = basinFor(c.lat, c.lon);
    const first = ciToIntensity(c.tNumber, b);
    const id = best?.id ?? trackId(basin, scene.observedAt, c.lat, c.lon);
    if (!best) {
      await createTrack(tx, { id, basin, firstAt: scene.observedAt, lastAt: scene.observedAt, lat: c.lat, lon: c.lon, scenes: 1, finalT: c.tNumber, ci: c.tNumber, ...first });
    }
    await insertFix(tx, {
      sceneKey: key, cell, trackId: id, observedAt: scene.observedAt, collection: scene.collection, itemId: scene.itemId, platform: scene.platform,
      lat: c.lat, lon: c.lon, scene: c.scene, eyeTempK: c.eyeTempK, cloudTempK: c.cloudTempK,
      rawT: c.tNumber, adjRawT: c.tNumber, finalT: c.tNumber, ci: c.tNumber, weakening: false, ...first,
    });
    await reanalyse(tx, id);
    return { ...(await current(tx, id, key, cell)), isNew: true };
  });
}

async function current(q: Queryable, id: string, key: string, cell: number): Promise<{ track: StormTrackRow; fix: StormFixRow }> {
  const track = await getTrack(q, id);
  const fix = (await trackFixes(q, id)).find((f) => f.sceneKey === key && f.cell === cell);
  if (!track || !fix) throw new Error(`storm track ${id} lost its fix ${key}#${cell}`);
  return { track, fix };
}

/** All fixes through the time rules, in time order; the track takes its latest fix's position and intensity. */
async function reanalyse(q: Queryable, id: string): Promise<void> {
  const fixes = await trackFixes(q, id);
  const recs = analyseTrack(fixes.map((f) => ({ t: f.observedAt.getTime(), scene: f.scene, rawT: f.rawT })));
  // trackFixes is in time order, as analyseTrack returns (equal times keep their scene order: a stable sort).
  for (let i = 0; i < fixes.length; i++) {
    const f = fixes[i]!;
    const r = recs[i]!;
    const w = ciToIntensity(r.ci, basinFor(f.lat, f.lon));
    await updateFixIntensity(q, { sceneKey: f.sceneKey, cell: f.cell, adjRawT: r.adjRawT, finalT: r.finalT, ci: r.ci, weakening: r.weakening, ...w });
  }
  const last = fixes[fixes.length - 1]!;
  const lr = recs[recs.length - 1]!;
  const scenes = new Set(fixes.map((f) => f.sceneKey)).size;
  await updateTrack(q, {
    id, basin: stormBasin(last.lat, last.lon), firstAt: fixes[0]!.observedAt, lastAt: last.observedAt, lat: last.lat, lon: last.lon,
    scenes, finalT: lr.finalT, ci: lr.ci, ...ciToIntensity(lr.ci, basinFor(last.lat, last.lon)),
  });
}
