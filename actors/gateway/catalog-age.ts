/**
 * What /health, /ingest/status and the start banner say about the catalog:
 * the age of its elements (actors/tracker/catalog-age.ts) and the load they
 * came from (source, snapshot date, when), so a freshly loaded old snapshot
 * reads as old.
 */
import type { Storage } from '../storage/index.js';
import { listIngestRuns } from '../storage/ingest-runs.js';
import { readCatalogElementAge, type CatalogElementAge } from '../tracker/catalog-age.js';
import type { QaLimits } from '../tracker/qa.js';

export interface CatalogAgeView {
  /** Null when the catalog has no element set yet, or the database could not be read yet. */
  elements: CatalogElementAge | null;
  /** The newest catalog run that loaded data (ok or not_modified), or null. */
  lastLoad: { source: string; snapshotDate: string | null; finishedAt: string } | null;
}

const EMPTY: CatalogAgeView = { elements: null, lastLoad: null };

/**
 * Cached for the frequent askers (/health is polled; the element query reads
 * a row per active object): one read at a time, served for `ttlMs`; a read
 * slower than `timeoutMs` (the database down) answers with the last view
 * instead of holding the request.
 */
export class CatalogAge {
  private last: CatalogAgeView | null = null;
  private lastAt = 0;
  private reading: Promise<CatalogAgeView> | null = null;
  lastError: string | null = null;

  constructor(
    private readonly storage: () => Promise<Storage>,
    private readonly limits?: QaLimits,
    private readonly ttlMs = 30_000,
    private readonly timeoutMs = 2000,
  ) {}

  async view(): Promise<CatalogAgeView> {
    if (this.last && Date.now() - this.lastAt < this.ttlMs) return this.last;
    this.reading ??= this.read().finally(() => (this.reading = null));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<CatalogAgeView>((resolve) => {
      timer = setTimeout(() => resolve(this.last ?? EMPTY), this.timeoutMs);
      timer.unref?.();
    });
    try {
      return await Promise.race([this.reading, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async read(): Promise<CatalogAgeView> {
    try {
      const { db } = await this.storage();
      const [elements, runs] = await Promise.all([
        readCatalogElementAge(db, Date.now(), this.limits),
        listIngestRuns(db, { kind: 'catalog', outcomes: ['ok', 'not_modified'], limit: 1 }),
      ]);
      const r = runs[0];
      const v: CatalogAgeView = {
        elements: elements.objects > 0 ? elements : null,
        lastLoad: r ? { source: r.source, snapshotDate: r.snapshotDate, finishedAt: r.finishedAt.toISOString() } : null,
      };
      this.last = v;
      this.lastAt = Date.now();
      this.lastError = null;
      return v;
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      return this.last ?? EMPTY;
    }
  }
}

/** One line for people: "median 214 d old (epoch 2026-05-07), oldest 400 d; 15,000 of 15,347 past their orbit's age limit …". */
export function elementAgeLine(e: CatalogElementAge | null): string {
  if (!e) return 'no element sets yet';
  const days = (d: number | null) => (d === null ? '—' : Math.abs(d) >= 2 ? `${Math.round(d)} d` : `${Math.round(d * 24)} h`);
  const past = e.expired > 0 ? `; ${e.expired} of ${e.objects} past their orbit's age limit (not good, drawn dimmed)` : `; all ${e.objects} within their orbit's age limit`;
  return `elements median ${days(e.medianAgeDays)} old (epoch ${e.medianEpoch?.slice(0, 10)}), oldest ${days(e.maxAgeDays)}${past}`;
}
