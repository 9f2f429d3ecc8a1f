/**
 * GET /storms and GET /storms/{id} over PostgreSQL (app.inject, no node):
 * tracks as the tile pipeline stores them, newest first, with the minScenes
 * and since filters; one track's fixes in time order with their intensities
 * and the STAC items that saw them; problem+json for bad queries and unknown
 * tracks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import pino from 'pino';
import { migrate } from '../../actors/storage/migrate.js';
import type { Storage } from '../../actors/storage/index.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { stormsPlugin } from '../../actors/gateway/storms.js';
import { trackFix, type SceneRef } from '../../actors/tile/pipeline/storm-tracks.js';
import type { CycloneFix } from '../../actors/tile/types.js';
import { openTestPg } from '../helpers/storage-backends.js';

test('GET /storms, GET /storms/{id}: tracks, fixes, intensities, scenes; 400/404 problems', async () => {
  const b = await openTestPg();
  // The gateway's validator settings (actors/gateway/app.ts): unknown query keys are refused, not dropped.
  const app = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } } });
  try {
    await migrate(b.db);
    useProblemDetails(app, pino({ level: 'silent' }));
    const storage = { db: b.db } as unknown as Storage;
    await app.register(stormsPlugin, { storage: async () => storage });
    const t0 = Date.UTC(2026, 8, 1, 0);
    const at = (h: number, item: string): SceneRef => ({ collection: 'imagery', itemId: item, platform: 'goes-19', observedAt: new Date(t0 + h * 3_600_000) });
    const fix: CycloneFix = { lat: 20, lon: -55, eyeTempK: null, cloudTempK: 215, scene: 'cdo', tNumber: 3.0, ci: 3.0, vmaxKt: 45, mslpHpa: 1000 };
    // Two fixes of one storm (the second arrives first), and a lone one in the southern hemisphere.
    const second = await trackFix(b.db, at(2, 'scene-b'), { ...fix, lat: 20.3, tNumber: 3.4 });
    await trackFix(b.db, at(0, 'scene-a'), fix);
    const lone = await trackFix(b.db, at(1, 'scene-c'), { ...fix, lat: -12, lon: 80 });

    const list = await app.inject({ method: 'GET', url: '/storms' });
    assert.equal(list.statusCode, 200);
    const storms = (list.json() as { storms: Array<{ id: string; scenes: number; href: string; lastSeen: string; lat: number }> }).storms;
    assert.deepEqual(storms.map((s) => s.id), [second.track.id, lone.track.id]);
    assert.equal(storms[0]!.scenes, 2);
    assert.equal(storms[0]!.lat, 20.3, 'the latest fix');
    assert.equal(storms[0]!.href, `/storms/${encodeURIComponent(second.track.id)}`);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/storms?minScenes=2' })).json().storms.map((s: { id: string }) => s.id), [second.track.id]);
    assert.equal((await app.inject({ method: 'GET', url: `/storms?since=${new Date(t0 + 1.5 * 3_600_000).toISOString()}` })).json().storms.length, 1);

    const one = await app.inject({ method: 'GET', url: `/storms/${second.track.id}` });
    assert.equal(one.statusCode, 200);
    const body = one.json() as { fixes: Array<{ item: string; itemHref: string; rawT: number; adjustedRawT: number; finalT: number; ci: number; observedAt: string }> };
    assert.deepEqual(body.fixes.map((f) => f.item), ['scene-a', 'scene-b'], 'in time order whatever the arrival order');
    assert.equal(body.fixes[1]!.itemHref, '/collections/imagery/items/scene-b');
    // 2 h after a 3.0 (CDO, 6-h window 0.71): raw 3.4 stands; Final = (6·3.4 + 4·3.0)/10 = 3.24 → 3.2 = CI.
    assert.deepEqual([body.fixes[1]!.rawT, body.fixes[1]!.adjustedRawT, body.fixes[1]!.finalT, body.fixes[1]!.ci], [3.4, 3.4, 3.2, 3.2]);

    for (const [url, status] of [['/storms?limit=0', 400], ['/storms?since=yesterday', 400], ['/storms?bogus=1', 400], ['/storms/TC-none', 404], ['/storms/bad%20id', 400]] as const) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, status, url);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/, url);
    }
  } finally {
    await app.close();
    await b.dispose();
  }
});
