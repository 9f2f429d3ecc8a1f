/**
 * The gateway's alert feed: alerts raised on the bus (`<ns>.alerts.v1`,
 * AlertRaisedMessage, published once stored), and the recent unacknowledged
 * ones from storage for clients that subscribe to the alert channel. The
 * recent list is read from storage at most every `refreshMs` (thousands of
 * subscribers must not mean thousands of queries) and alerts heard on the
 * bus are merged in meanwhile.
 */
import { errorMessage } from '../../protocol/errors.js';
import { AlertRaisedMessage, type AlertRaised } from '../../protocol/messages/satellite-state.js';
import type { Alert } from '../storage/alerts.js';
import { listAlerts } from '../storage/alerts.js';
import type { Storage } from '../storage/index.js';

/** A stored alert in its wire form (the bus message and the ws `alert` message carry this). */
export function alertToWire(a: Alert): AlertRaised {
  return {
    v: 1,
    id: a.id,
    kind: a.kind,
    severity: a.severity,
    noradId: a.noradId ?? null,
    message: a.message,
    raisedAt: a.raisedAt.toISOString(),
    payload: a.payload ?? {},
  };
}

export interface AlertsFeedOptions {
  storage(): Promise<Storage>;
  /** How many recent alerts a subscriber is sent (default 50). */
  recentLimit?: number;
  /** How long the recent list read from storage is reused (default 10 s). */
  refreshMs?: number;
  onError?(err: unknown): void;
}

export class AlertsFeed {
  private recentList: AlertRaised[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  private readonly limit: number;
  private readonly refreshMs: number;
  private readonly listeners = new Set<(a: AlertRaised) => void>();
  invalid = 0;

  constructor(private readonly o: AlertsFeedOptions) {
    this.limit = o.recentLimit ?? 50;
    this.refreshMs = o.refreshMs ?? 10_000;
  }

  /** Take one bus message. Returns the alert, or null when it was malformed (counted). */
  ingest(bytes: Uint8Array): AlertRaised | null {
    let a: AlertRaised;
    try {
      a = AlertRaisedMessage.decode(bytes);
    } catch (err) {
      this.invalid += 1;
      this.o.onError?.(err);
      return null;
    }
    // A repeat of a recent alert (at-least-once publishing) is not broadcast again.
    if (this.merge(a)) for (const l of this.listeners) l(a);
    return a;
  }

  /** Call `listener` for every alert taken off the bus; returns the unsubscribe. */
  onAlert(listener: (a: AlertRaised) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The recent unacknowledged alerts, newest first. A storage failure serves the last list read. */
  async recent(now = Date.now()): Promise<AlertRaised[]> {
    if (now - this.loadedAt >= this.refreshMs) {
      this.loading ??= this.load(now).finally(() => (this.loading = null));
      await this.loading;
    }
    return this.recentList;
  }

  private async load(now: number): Promise<void> {
    try {
      const rows = await listAlerts((await this.o.storage()).db, { unacknowledgedOnly: true, limit: this.limit });
      const stored = rows.map(alertToWire);
      // Alerts heard on the bus but not yet visible in storage stay.
      const ids = new Set(stored.map((x) => x.id));
      const extra = this.recentList.filter((x) => !ids.has(x.id) && Date.parse(x.raisedAt) > now - this.refreshMs * 3);
      this.recentList = sortNewest([...extra, ...stored]).slice(0, this.limit);
      this.loadedAt = now;
    } catch (err) {
      this.o.onError?.(new Error(`recent alerts not read: ${errorMessage(err)}`));
    }
  }

  private merge(a: AlertRaised): boolean {
    const known = this.recentList.find((x) => x.id === a.id);
    // The same alert again is a repeat; the same id with another message is an update (a grouped alert,
    // e.g. the decays of a stale catalog load, republished as it grows): it replaces the one shown.
    if (known && known.message === a.message) return false;
    this.recentList = sortNewest([a, ...this.recentList.filter((x) => x.id !== a.id)]).slice(0, this.limit);
    return true;
  }
}

function sortNewest(xs: AlertRaised[]): AlertRaised[] {
  return xs.sort((a, b) => b.raisedAt.localeCompare(a.raisedAt) || a.id.localeCompare(b.id));
}
