/**
 * CORS (issue 15 part 9, issue 16 part 8) unconfigured, and its
 * configuration checks. With allowed origins, on the gateway role, it is
 * tested in stac-gateway.test.ts (that file's gateway is started with
 * STARWEATHER_CORS_ALLOWED_ORIGINS, so the two share one gateway start).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { pino } from 'pino';
import { loadConfig } from '../../config/load.js';
import { registerCors } from '../../actors/gateway/cors.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';

const ALLOWED = 'https://maps.example.org';

describe('CORS not configured (default)', () => {
  test('no origins: no CORS headers, and a preflight is the 404 problem as before', async () => {
    const app = Fastify({ logger: false });
    useProblemDetails(app, pino({ level: 'silent' }));
    await registerCors(app, loadConfig({ env: {} }).gateway.corsAllowedOrigins);
    app.get('/search', async () => ({ ok: true }));
    try {
      const get = await app.inject({ method: 'GET', url: '/search', headers: { origin: ALLOWED } });
      assert.equal(get.statusCode, 200);
      assert.deepEqual(Object.keys(get.headers).filter((k) => k.startsWith('access-control-')), []);
      const pre = await app.inject({ method: 'OPTIONS', url: '/search', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } });
      assert.equal(pre.statusCode, 404);
      assert.deepEqual(Object.keys(pre.headers).filter((k) => k.startsWith('access-control-')), []);
    } finally {
      await app.close();
    }
  });

  test('a configured value that is not an origin is a configuration error', () => {
    for (const bad of ['maps.example.org', 'https://maps.example.org/path', 'https://*.example.org', 'ftp://x.example']) {
      assert.throws(() => loadConfig({ env: { STARWEATHER_CORS_ALLOWED_ORIGINS: bad } }), /corsAllowedOrigins/, bad);
    }
    assert.deepEqual(loadConfig({ env: { STARWEATHER_CORS_ALLOWED_ORIGINS: '*' } }).gateway.corsAllowedOrigins, ['*']);
  });
});
