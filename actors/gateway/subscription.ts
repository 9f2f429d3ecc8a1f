/**
 * A websocket client's subscription, normalised so that equal subscriptions
 * get equal keys: the fanout encodes one frame per key per tick and shares
 * its bytes between every client holding that key.
 */
import type { WsSubscribe } from '../../protocol/messages/ws.js';

export interface Subscription {
  /** Canonical form; equal subscriptions have equal keys. */
  readonly key: string;
  readonly all: boolean;
  readonly ids: ReadonlySet<number> | null;
  readonly groups: ReadonlySet<string> | null;
  /** [west, south, east, north], degrees; west > east crosses the antimeridian. */
  readonly bbox: readonly [number, number, number, number] | null;
}

export function normalizeSubscription(m: Omit<WsSubscribe, 'type' | 'id'>): Subscription {
  const all = m.all === true;
  const ids = m.ids && m.ids.length > 0 ? [...new Set(m.ids)].sort((a, b) => a - b) : null;
  const groups = m.groups && m.groups.length > 0 ? [...new Set(m.groups)].sort() : null;
  const bbox = m.bbox ? ([m.bbox[0], m.bbox[1], m.bbox[2], m.bbox[3]] as const) : null;
  // `all` subsumes every other criterion.
  const key = all ? 'all' : JSON.stringify({ i: ids, g: groups, b: bbox });
  return {
    key,
    all,
    ids: all || !ids ? null : new Set(ids),
    groups: all || !groups ? null : new Set(groups),
    bbox: all ? null : bbox,
  };
}

export function inBbox(bbox: readonly [number, number, number, number], latDeg: number, lonDeg: number): boolean {
  const [w, s, e, n] = bbox;
  if (!(latDeg >= s && latDeg <= n)) return false;
  return w <= e ? lonDeg >= w && lonDeg <= e : lonDeg >= w || lonDeg <= e;
}

/** Whether a state matches: any criterion (OR). */
export function matches(sub: Subscription, id: number, latDeg: number, lonDeg: number, groupsOf: (id: number) => readonly string[] | undefined): boolean {
  if (sub.all) return true;
  if (sub.ids?.has(id)) return true;
  if (sub.bbox && inBbox(sub.bbox, latDeg, lonDeg)) return true;
  if (sub.groups) {
    const gs = groupsOf(id);
    if (gs) for (const g of gs) if (sub.groups.has(g)) return true;
  }
  return false;
}
