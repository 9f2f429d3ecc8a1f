/**
 * How the alerts panel folds alerts into rows, without the DOM.
 *
 * Alerts of one kind and severity are one row once there are two or more
 * (an old catalog raises hundreds of per-object `decay` alerts: one row
 * "483 objects decayed" instead of 483). Kind and severity, not kind alone,
 * so a critical alert is never folded under warnings of its kind. An alert
 * that already stands for many objects (the tracker's grouped
 * `decay-stale-elements` alert, its objects in payload.noradIds —
 * actors/storage/alerts.ts raiseGroupAlert) is a row that expands to them.
 * Rows with a critical alert come first, then storm warnings (kinds
 * `storm.*`, raised by the tile pipeline from the imagery: weather that
 * matters now whatever their severity), then the rest, each newest first.
 */
import type { AlertRaised } from '../../../../protocol/messages/satellite-state.js';

export type ShownAlert = AlertRaised & { acknowledgedAt?: string | null };

export interface AlertRow {
  /** Stable across renders (what the panel remembers as expanded). */
  key: string;
  kind: string;
  severity: AlertRaised['severity'];
  /** Alerts in the row, or objects in a grouped alert. */
  count: number;
  title: string;
  newestAt: number;
  /** Newest first. */
  alerts: ShownAlert[];
}

export interface RowMember {
  noradId: number | null;
  message: string;
}

/** Per-object alert kinds with a plain-words title for a folded row. */
const FOLDED_TITLES: Record<string, (n: number) => string> = {
  decay: (n) => `${n} objects decayed`,
};

function memberIds(a: ShownAlert): number[] | null {
  const ids = a.payload?.['noradIds'];
  return Array.isArray(ids) && ids.length > 0 && ids.every((x) => Number.isInteger(x)) ? (ids as number[]) : null;
}

export function alertRows(alerts: Iterable<ShownAlert>): AlertRow[] {
  const byKey = new Map<string, ShownAlert[]>();
  for (const a of alerts) {
    const key = `${a.severity}:${a.kind}`;
    const list = byKey.get(key);
    if (list) list.push(a);
    else byKey.set(key, [a]);
  }
  const rows: AlertRow[] = [];
  for (const [key, list] of byKey) {
    list.sort((x, y) => Date.parse(y.raisedAt) - Date.parse(x.raisedAt));
    const first = list[0]!;
    const newestAt = Date.parse(first.raisedAt);
    if (list.length === 1) {
      const ids = memberIds(first);
      const objects = first.payload?.['objects'];
      const count = ids ? (typeof objects === 'number' && objects > ids.length ? objects : ids.length) : 1;
      rows.push({ key: `${key}:${first.id}`, kind: first.kind, severity: first.severity, count, title: first.message, newestAt, alerts: list });
      continue;
    }
    const title = FOLDED_TITLES[first.kind]?.(list.length) ?? `${list.length} alerts; newest: ${first.message}`;
    rows.push({ key, kind: first.kind, severity: first.severity, count: list.length, title, newestAt, alerts: list });
  }
  return rows.sort((x, y) => urgency(x) - urgency(y) || y.newestAt - x.newestAt);
}

export const isStorm = (kind: string): boolean => kind.startsWith('storm.');

/** 0 critical, 1 a storm warning, 2 anything else: the order of rows before their age. */
export function urgency(r: Pick<AlertRow, 'severity' | 'kind'>): number {
  return r.severity === 'critical' ? 0 : isStorm(r.kind) ? 1 : 2;
}

/** What an expandable row expands to; null for a row of one plain alert. */
export function groupMembers(row: AlertRow): RowMember[] | null {
  if (row.alerts.length > 1) return row.alerts.map((a) => ({ noradId: a.noradId, message: a.message }));
  const ids = memberIds(row.alerts[0]!);
  return ids ? ids.map((id) => ({ noradId: id, message: `NORAD ${id}` })) : null;
}
