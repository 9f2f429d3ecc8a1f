/** Catalog ingest instruments, on the host's registry (created once per registry). */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface CatalogMetrics {
  readonly accepted: Counter;
  readonly rejected: Counter<'code'>;
  readonly runs: Counter<'outcome'>;
  readonly requests: Counter<'status'>;
  readonly lastSuccess: Gauge;
  readonly aborted: Counter<'cause'>;
  readonly retries: Counter;
}

const byRegistry = new WeakMap<Registry, CatalogMetrics>();

export function catalogMetrics(registry: Registry): CatalogMetrics {
  const known = byRegistry.get(registry);
  if (known) return known;
  const registers = [registry];
  const m: CatalogMetrics = {
    accepted: new Counter({ name: 'sw_catalog_records_accepted_total', help: 'Catalog element sets that passed validation and were written', registers }),
    rejected: new Counter({ name: 'sw_catalog_records_rejected_total', help: 'Catalog records rejected by validation, by rejection code (actors/tracker/rejection.ts)', labelNames: ['code'], registers }),
    runs: new Counter({ name: 'sw_catalog_runs_total', help: 'Catalog ingest runs (one per group per cycle, or per load), by outcome', labelNames: ['outcome'], registers }),
    requests: new Counter({ name: 'sw_catalog_http_requests_total', help: 'GP API requests made, by HTTP status (`error` when no answer came)', labelNames: ['status'], registers }),
    lastSuccess: new Gauge({ name: 'sw_catalog_last_success_timestamp_seconds', help: 'When a catalog load last completed with outcome ok', registers }),
    aborted: new Counter({
      name: 'sw_catalog_loads_aborted_total',
      help: 'Catalog loads rolled back for a reason on our side, by cause: fenced (the lease was not ours at commit), storage (database error), stopped, error',
      labelNames: ['cause'],
      registers,
    }),
    retries: new Counter({ name: 'sw_catalog_retries_scheduled_total', help: 'Catalog cycles scheduled as a retry (minutes, with backoff) instead of a whole interval later', registers }),
  };
  byRegistry.set(registry, m);
  return m;
}
