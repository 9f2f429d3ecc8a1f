/**
 * The process-wide metrics of a node, on its supervisor's registry: the
 * event-loop delay of the supervisor's own thread (the same windowed p99 as
 * every host's, runtime/metrics.ts) and prom-client's default process and
 * Node.js metrics under the project's one prefix (`sw_process_cpu_user_seconds_total`,
 * `sw_nodejs_heap_size_used_bytes`, …), so every series StarWeather serves is
 * `sw_*`.
 *
 * Left out of the defaults, because each repeats a series already there:
 * - `nodejs_eventloop_lag_*`: quantile gauges of the same loop delay that
 *   sw_event_loop_delay_p99_seconds reports, reset on every scrape (two
 *   scrapers would see different values);
 * - `nodejs_active_{handles,requests,resources}_total`: gauges equal to the
 *   sum of the labelled gauge without `_total` (prom-client keeps both names
 *   for compatibility), named like counters though they go down;
 * - `process_cpu_seconds_total`: the sum of `process_cpu_user_seconds_total`
 *   and `process_cpu_system_seconds_total`, which stay.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { eventLoopDelayGauge, startEventLoopDelay } from '../actors/runtime/metrics.js';

export const METRIC_PREFIX = 'sw_';

const REPEATS = [/^nodejs_eventloop_lag_/, /^nodejs_active_(handles|requests|resources)_total$/, /^process_cpu_seconds_total$/];

/** Register them on `registry`; the returned function stops the event-loop monitor. */
export function registerProcessMetrics(registry: Registry): () => void {
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults, prefix: METRIC_PREFIX });
  for (const { name } of defaults.getMetricsAsArray()) {
    const m = defaults.getSingleMetric(name);
    if (m && !REPEATS.some((r) => r.test(name.slice(METRIC_PREFIX.length)))) registry.registerMetric(m);
  }
  const loop = startEventLoopDelay();
  eventLoopDelayGauge(registry, loop);
  return () => loop.close();
}
