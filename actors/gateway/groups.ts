/**
 * NORAD id → catalog groups, for websocket group subscriptions. Loaded once
 * from the catalog and reloaded when the catalog changes (a `catalog.changed`
 * hint, debounced) and periodically, so a lost hint only delays a change.
 */
import type { Database } from '../storage/db.js';
import { groupMemberships } from '../storage/catalog.js';

export class GroupIndex {
  private byId = new Map<number, readonly string[]>();
  private loading: Promise<void> | null = null;
  private again = false;
  loadedAt: number | null = null;

  constructor(private readonly db: () => Promise<Database>) {}

  groupsOf = (id: number): readonly string[] | undefined => this.byId.get(id);

  get size(): number {
    return this.byId.size;
  }

  /** Reload from the database; concurrent calls share one load (and one more if asked during it). */
  refresh(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
          const rows = await groupMemberships(await this.db());
          const next = new Map<number, readonly string[]>();
          for (const r of rows) next.set(r.noradId, Object.freeze([...r.groups]));
          this.byId = next;
          this.loadedAt = Date.now();
        } while (this.again);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }
}
