/**
 * The gateway's HTTP request metrics (actors/gateway/http-metrics.ts) on a
 * real fastify server with real requests: the counter and the duration
 * histogram count exactly the requests this test made, by route PATTERN
 * (never the raw URL: no id or query string in a label; `unmatched` when no
 * route matched) and status, whichever hook answered (a 401 from an
 * onRequest hook, a thrown 500, the 404 handler). The exposition is read by
 * a strict parser of the text format (helpers/prom-text.ts), not by
 * prom-client. The whole node's /metrics is held to one prefix and no
 * repeats in test/integration/gateway-health.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { createHttpMetrics, observeHttpRequests, UNMATCHED_ROUTE } from '../../actors/gateway/http-metrics.js';
import { parseExposition, repeated, sumOf, type PromSample } from '../helpers/prom-text.js';

test('request counts and duration histograms equal the requests made, by route pattern and status', async () => {
  const registry = new Registry();
  const app = Fastify({ logger: false });
  observeHttpRequests(app, createHttpMetrics(registry));
  app.get('/items/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (id === '404') return reply.code(404).send({ missing: id });
    return { id };
  });
  app.get('/items', async () => []);
  app.post('/items', { onRequest: async (_req, reply) => reply.code(401).send({ title: 'Unauthorized' }) }, async () => 'never');
  app.get('/boom', async () => {
    throw new Error('handler failed');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const made: Array<{ method?: string; path: string; route: string; status: number }> = [
      { path: '/items', route: '/items', status: 200 },
      { path: '/items?limit=2&q=x', route: '/items', status: 200 },
      { path: '/items/25544', route: '/items/:id', status: 200 },
      { path: '/items/99999', route: '/items/:id', status: 200 },
      { path: '/items/404', route: '/items/:id', status: 404 },
      { method: 'POST', path: '/items', route: '/items', status: 401 },
      { path: '/boom', route: '/boom', status: 500 },
      { path: '/no/such/path', route: UNMATCHED_ROUTE, status: 404 },
      { path: '/another/missing?x=1', route: UNMATCHED_ROUTE, status: 404 },
      { method: 'DELETE', path: '/items/1', route: UNMATCHED_ROUTE, status: 404 },
    ];
    // Client-side wall time per request: the server's measured interval lies inside it (same process, monotonic clocks).
    const clientSeconds = new Map<(typeof made)[number], number>();
    for (const m of made) {
      const t0 = performance.now();
      const r = await fetch(`${base}${m.path}`, { method: m.method ?? 'GET' });
      await r.arrayBuffer();
      clientSeconds.set(m, (performance.now() - t0) / 1000);
      assert.equal(r.status, m.status, `${m.method ?? 'GET'} ${m.path}`);
    }
    const s = parseExposition(await registry.metrics());
    assert.deepEqual(repeated(s.seriesKeys), [], 'no series twice');

    // Oracle: the list of requests this test sent, counted here.
    const tally = (key: (m: (typeof made)[number]) => string): Map<string, number> => {
      const t = new Map<string, number>();
      for (const m of made) t.set(key(m), (t.get(key(m)) ?? 0) + 1);
      return t;
    };
    const expected = tally((m) => JSON.stringify([m.method ?? 'GET', m.route, String(m.status)]));
    const counter = s.families.find((f) => f.name === 'sw_http_requests_total');
    assert.equal(counter?.type, 'counter');
    const got = new Map(counter!.samples.map((x) => [JSON.stringify([x.labels.method, x.labels.route, x.labels.status_code]), x.value]));
    assert.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries([...expected].sort()));

    const hist = s.families.find((f) => f.name === 'sw_http_request_duration_seconds');
    assert.equal(hist?.type, 'histogram');
    const byClass = tally((m) => JSON.stringify([m.method ?? 'GET', m.route, `${Math.floor(m.status / 100)}xx`]));
    for (const [k, n] of byClass) {
      const [method, route, status_class] = JSON.parse(k) as [string, string, string];
      const labels = { method, route, status_class };
      assert.equal(sumOf(s, 'sw_http_request_duration_seconds_count', labels), n, `histogram count ${k}`);
      const buckets: PromSample[] = hist!.samples.filter((x) => x.name === 'sw_http_request_duration_seconds_bucket' && x.labels.method === method && x.labels.route === route && x.labels.status_class === status_class);
      assert.ok(buckets.length > 1);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'cumulative buckets');
      assert.equal(buckets.at(-1)!.labels.le, '+Inf');
      assert.equal(buckets.at(-1)!.value, n);
      // Seconds (not ms): the server's time of these requests is within what the client measured around them.
      const sum = sumOf(s, 'sw_http_request_duration_seconds_sum', labels);
      const client = made.filter((m) => JSON.stringify([m.method ?? 'GET', m.route, `${Math.floor(m.status / 100)}xx`]) === k).reduce((t, m) => t + clientSeconds.get(m)!, 0);
      assert.ok(sum > 0 && sum <= client, `server ${sum} s within the client's ${client} s for ${k}`);
    }
    assert.equal(sumOf(s, 'sw_http_request_duration_seconds_count'), made.length, 'nothing else counted');

    // Route labels are patterns: no id, query string or unmatched path of a request appears in any label.
    for (const f of s.families) {
      for (const x of f.samples) {
        for (const v of Object.values(x.labels)) assert.ok(!/\?|25544|99999|no\/such|missing/.test(v), `raw URL in a label: ${x.name} ${JSON.stringify(x.labels)}`);
      }
    }
  } finally {
    await app.close();
  }
});

test('the exposition reader refuses what it cannot read (so a malformed /metrics fails its test)', () => {
  assert.throws(() => parseExposition('sw_x 1\n'), /undeclared family/);
  assert.throws(() => parseExposition('# TYPE sw_x counter\nsw_x{a="1" 1\n'), /unclosed|label/);
  assert.throws(() => parseExposition('# TYPE sw_x counter\nsw_x one\n'), /bad sample value/);
  const ok = parseExposition('# HELP sw_x help text\n# TYPE sw_x counter\nsw_x{a="q\\"uote",b="2"} 3\nsw_x{b="2",a="q\\"uote"} 4\n');
  assert.equal(ok.families[0]!.help, 'help text');
  assert.deepEqual(ok.families[0]!.samples[0]!.labels, { a: 'q"uote', b: '2' });
  assert.deepEqual(repeated(ok.seriesKeys), ['sw_x{a="q\\"uote",b="2"}'], 'the same label set in another order is the same series');
});
