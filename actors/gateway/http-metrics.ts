/**
 * HTTP request metrics of the gateway: a count by route, method and status
 * code, and a duration histogram by route, method and status class.
 *
 * The route label is the route's PATTERN (`/satellites/:id`), never the raw
 * URL: ids, query strings and a scanner's garbage paths would each be a new
 * series (unbounded cardinality, Prometheus naming practices, "Labels").
 * Requests no route matched are `route="unmatched"`.
 *
 * Counted in onResponse, so every answered request is seen, whichever hook
 * answered it (overload 503, rate-limit 429, key 401, 404); the duration is
 * fastify's reply.elapsedTime (from the request's arrival to the response
 * being written), in seconds (base unit). Not seen: what Node's HTTP parser
 * refuses before fastify has a request (400/414/431 written by errors.ts
 * writeParserProblem), and websocket upgrades, which the websocket plugin
 * takes over before a response is sent.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

export interface HttpMetrics {
  readonly requests: Counter<'method' | 'route' | 'status_code'>;
  readonly duration: Histogram<'method' | 'route' | 'status_class'>;
}

/** Route label of a request no route matched. */
export const UNMATCHED_ROUTE = 'unmatched';

// Node's parser accepts a fixed list of methods; anything past the usual ones is folded so a label value stays bounded.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Buckets from 5 ms to the 8 s request budget and past it (seconds). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createHttpMetrics(registry: Registry): HttpMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'sw_http_requests_total',
      help: 'HTTP requests answered by the gateway, by method, route pattern (unmatched: no route) and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'sw_http_request_duration_seconds',
      help: 'Time from an HTTP request reaching the gateway to its response being written, by method, route pattern and status class (2xx, 3xx, 4xx, 5xx)',
      labelNames: ['method', 'route', 'status_class'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
  };
}

/** Count and time every response of `app` (call before routes are registered, so the hook applies to all of them). */
export function observeHttpRequests(app: FastifyInstance, m: HttpMetrics): void {
  app.addHook('onResponse', (req, reply, done) => {
    const method = METHODS.has(req.method) ? req.method : 'other';
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    const code = reply.statusCode;
    m.requests.inc({ method, route, status_code: String(code) });
    m.duration.observe({ method, route, status_class: `${Math.floor(code / 100)}xx` }, reply.elapsedTime / 1000);
    done();
  });
}
