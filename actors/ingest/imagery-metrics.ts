/** Imagery ingest instruments, on the host's registry (created once per registry). */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ImageryMetrics {
  /** Scenes by outcome: registered, rejected (4xx or unreadable file), retry (tried again next poll). */
  readonly scenes: Counter<'source' | 'outcome'>;
  /** Objects and listings skipped, by reason kind (malformed_key, bad_file, list_error, …). */
  readonly skipped: Counter<'reason'>;
  readonly polls: Counter;
  readonly lastPoll: Gauge;
}

const byRegistry = new WeakMap<Registry, ImageryMetrics>();

export function imageryMetrics(registry: Registry): ImageryMetrics {
  const known = byRegistry.get(registry);
  if (known) return known;
  const registers = [registry];
  const m: ImageryMetrics = {
    scenes: new Counter({ name: 'sw_imagery_scenes_total', help: 'Imagery scenes handled by the ingest, by source and outcome (registered, rejected, retry)', labelNames: ['source', 'outcome'], registers }),
    skipped: new Counter({ name: 'sw_imagery_skipped_total', help: 'Imagery objects or listings skipped, by reason (malformed_key, bad_file, list_error, read_error, gateway_retry, gateway_rejected, …)', labelNames: ['reason'], registers }),
    polls: new Counter({ name: 'sw_imagery_polls_total', help: 'Imagery polls run by the leader', registers }),
    lastPoll: new Gauge({ name: 'sw_imagery_last_poll_timestamp_seconds', help: 'When the last imagery poll finished', registers }),
  };
  byRegistry.set(registry, m);
  return m;
}
