/**
 * A stored element set (actors/storage/element-sets.ts) turned into the
 * tracker's ElementSet and SatRec, with a small cache: track and pass
 * requests for the same object reuse the SatRec until a newer element set
 * is stored.
 */
import type { SatRec } from 'satellite.js';
import type { ElementSet as StoredElementSet } from '../storage/element-sets.js';
import { createSatrec, elementSetFromOmm, elementSetFromTle, type ElementSet } from '../tracker/element-set.js';
import { validateOmm } from '../tracker/omm.js';
import { parseTle } from '../tracker/tle.js';

export type Loaded = { ok: true; elements: ElementSet; satrec: SatRec } | { ok: false; reason: string };

export function loadStoredElementSet(es: StoredElementSet, name: string): Loaded {
  let elements: ElementSet;
  if (es.format === 'tle') {
    const p = parseTle(name, es.tleLine1 ?? '', es.tleLine2 ?? '');
    if (!p.ok) return { ok: false, reason: `stored TLE does not parse: ${p.rejection.reason}` };
    elements = elementSetFromTle(p.value);
  } else {
    const p = validateOmm(es.omm, 1);
    if (!p.ok) return { ok: false, reason: `stored OMM does not validate: ${p.rejection.reason}` };
    elements = elementSetFromOmm(p.value);
  }
  const { satrec, initError } = createSatrec(elements);
  if (initError !== 0) return { ok: false, reason: `SGP4 initialisation failed with error ${initError}` };
  return { ok: true, elements, satrec };
}

/** SatRecs by stored element-set id, least recently used evicted past `capacity`. */
export class SatrecCache {
  private readonly m = new Map<number, Loaded>();
  constructor(private readonly capacity = 2000) {}

  get(es: StoredElementSet, name: string): Loaded {
    const hit = this.m.get(es.id);
    if (hit) {
      this.m.delete(es.id);
      this.m.set(es.id, hit);
      return hit;
    }
    const loaded = loadStoredElementSet(es, name);
    this.m.set(es.id, loaded);
    if (this.m.size > this.capacity) this.m.delete(this.m.keys().next().value!);
    return loaded;
  }
}
