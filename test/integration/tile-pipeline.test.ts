/**
 * The tile pipeline end to end over NATS with two tile hosts as real
 * processes: a synthetic storm scene written as a real ABI L1b file (served
 * over HTTP by a local S3-compatible server), its
 * STAC item and imagery.scene task as the gateway registers them (and the
 * same storm as ten bzip2 Himawari HSD segments in a second item); the task
 * ends done, with tile results from the hosts, weather_metrics rows per tile
 * and per scene, a stored cyclone warning published on the alerts subject,
 * products in the item's assets, and the products served with caching
 * headers by the gateway route.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { productsPlugin, PRODUCT_CACHE_CONTROL } from '../../actors/gateway/products.js';
import { listAlerts } from '../../actors/storage/alerts.js';
import { getItem } from '../../actors/storage/stac.js';
import { getTileScene, listTileResults } from '../../actors/storage/tile-results.js';
import { queryMetrics } from '../../actors/storage/weather-metrics.js';
import { AlertRaisedMessage, type AlertRaised } from '../../protocol/messages/satellite-state.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { ahiStormScene, sceneItem, stormScene, TileCluster, writeAhiSegmentsTo, writeSceneFile } from '../helpers/tile-fixtures.js';
import { tileCellId, SCENE_CELL } from '../../actors/tile/pipeline/outputs.js';

test('a storm scene runs end to end over NATS on two tile hosts: task done, tiles, metrics, alerts, STAC assets, served products', { timeout: 120_000 }, async () => {
  const cluster = await TileCluster.create({ STARWEATHER_TILE_SIZE: '256', STARWEATHER_WORK_CONCURRENCY: '1', STARWEATHER_WORK_PREFETCH: '1', STARWEATHER_TILE_CONCURRENCY: '1' });
  const app = Fastify({ logger: false });
  let s3: S3TestServer | null = null;
  try {
    mkdirSync(cluster.assetsDir(), { recursive: true });
    const time = new Date();
    const scene = stormScene(512, 11, time);
    // The ABI file comes over HTTP from a local S3-compatible server, as NOAA's buckets serve it (SSRF guard, file-store cache).
    const bucketDir = join(cluster.root, 's3', 'noaa-goes19', 'ABI-L1b-RadM', '2026');
    mkdirSync(bucketDir, { recursive: true });
    const path = await writeSceneFile(bucketDir, 'OR_ABI-L1b-RadM1-M6C13_G19_storm.nc', scene);
    s3 = await startS3Server(join(cluster.root, 's3'));
    const endpoint = s3.url.replace('127.0.0.1', 'localhost');
    const hostPort = new URL(endpoint).host;
    const href = `${endpoint}/noaa-goes19/ABI-L1b-RadM/2026/OR_ABI-L1b-RadM1-M6C13_G19_storm.nc`;
    const http = { STARWEATHER_ASSET_HOSTS: hostPort, STARWEATHER_ASSET_PRIVATE_HOSTS: hostPort, STARWEATHER_ASSET_SCHEMES: 'http,https' };
    await Promise.all([cluster.start('tile-a', http), cluster.start('tile-b', http)]);
    const alerts: AlertRaised[] = [];
    const sub = cluster.transport.subscribe(cluster.names.subjects.alerts, (m) => alerts.push(AlertRaisedMessage.decode(m.data)));

    // The same storm seen by Himawari-9: ten bzip2 HSD segments, one item asset each.
    const ahi = ahiStormScene(512, 500, 13, time);
    const segments = await writeAhiSegmentsTo(cluster.assetsDir(), ahi);
    assert.equal(segments.length, 10);

    const item = sceneItem('storm-512', href, scene.time);
    const taskId = await cluster.submit(item);
    // As a priority scene: it, its tiles and its finalize run on the high queue.
    const ahiTaskId = await cluster.submit(sceneItem('ahi-storm', segments.map((p) => cluster.fileHref(p)), ahi.time), 'high');
    const task = await cluster.finished(taskId, 90_000);
    assert.equal(task.state, 'done', `task failed: ${task.error}`);
    for (const stage of ['l1At', 'l2At', 'l3At', 'doneAt'] as const) assert.ok(task[stage], `${stage} recorded`);
    assert.ok(task.l1At! <= task.l2At! && task.l2At! <= task.l3At! && task.l3At! <= task.doneAt!, 'stages in order');

    // Tiles: 512² at 256 → 4 tiles, each stored once; with one task at a time per host both hosts took some.
    const tiling = await getTileScene(cluster.db, taskId);
    assert.equal(tiling?.tileCount, 4);
    const tiles = await listTileResults(cluster.db, taskId, tiling!.fingerprint);
    assert.deepEqual(tiles.map((t) => t.index), [0, 1, 2, 3]);
    assert.deepEqual(new Set(tiles.map((t) => t.host)), new Set(['tile-a', 'tile-b']));

    // Metrics: per tile and per scene, at the scene's time, for its platform.
    const metrics = await queryMetrics(cluster.db, { from: new Date(scene.time.getTime() - 1000), to: new Date(scene.time.getTime() + 1000), satellite: 'goes-19' });
    const sceneRow = (p: string) => metrics.find((m) => m.product === p && m.cellId === SCENE_CELL);
    const cf = sceneRow('b13.cloud_fraction');
    assert.ok(cf && cf.value > 0.05 && cf.value < 0.95, `scene cloud fraction ${cf?.value}`);
    assert.ok(sceneRow('b13.bt_min_k')!.value < 200, 'the storm top is colder than 200 K');
    assert.ok(sceneRow('b13.cth_max_m')!.value > 9000, 'deep cloud tops above 9 km');
    assert.equal(sceneRow('b13.storm_flag')!.value, 1);
    for (let i = 0; i < 4; i++) assert.ok(metrics.some((m) => m.cellId === tileCellId(256, i) && m.product === 'b13.cloud_fraction'), `tile ${i} cloud fraction`);
    assert.ok(metrics.every((m) => m.taskId === taskId));
    // The cyclone: its fix lies within ~100 km of the generated eye, with hurricane intensity.
    const lat = metrics.find((m) => m.product === 'b13.cyclone_lat');
    const lon = metrics.find((m) => m.product === 'b13.cyclone_lon');
    assert.ok(lat && lon, 'a cyclone fix was written');
    assert.ok(Math.abs(lat.value - 18) < 1 && Math.abs(lon.value + 60) < 1, `cyclone at ${lat.value}, ${lon.value}`);
    assert.ok(metrics.find((m) => m.product === 'b13.cyclone_vmax_kt')!.value >= 64);

    // Alerts: stored, and published on the alerts subject by the storm.warning task on the high queue.
    const stored = await listAlerts(cluster.db);
    const cyclone = stored.find((a) => a.kind === 'storm.tropical-cyclone');
    assert.ok(cyclone, `stored alerts: ${JSON.stringify(stored.map((a) => a.id))}`);
    assert.equal(cyclone.severity, 'critical');
    const deadline = Date.now() + 15_000;
    while (!alerts.some((a) => a.id === cyclone.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(alerts.some((a) => a.id === cyclone.id && a.kind === 'storm.tropical-cyclone'), 'cyclone alert published');
    sub.unsubscribe();

    // STAC: product assets and the QA summary.
    const doc = (await getItem(cluster.db, 'imagery', 'storm-512'))!;
    const assets = doc.assets as Record<string, { href: string; type: string; roles: string[] }>;
    assert.equal(assets.data!.href, href, 'the data asset is kept');
    // Each host fetched the file at most once (decoded-scene LRU, file-store cache), though it ran the scene and tiles.
    assert.ok(s3.stats.get >= 1 && s3.stats.get <= 2, `GETs: ${s3.stats.get}`);
    assert.ok(path.length > 0);
    for (const [key, type] of [['enhanced-ir', 'image/png'], ['enhanced-ir-webp', 'image/webp'], ['cloud-top-height', 'image/png'], ['cloud-top-height-webp', 'image/webp']] as const) {
      assert.equal(assets[key]?.type, type, key);
    }
    const props = doc.properties as Record<string, any>;
    assert.equal(props['starweather:qa'].total, 512 * 512);
    assert.ok(props['starweather:qa'].valid > 0.99 * 512 * 512);
    assert.equal(props['starweather:tiles'].count, 4);
    assert.equal(props['starweather:summary'].cyclones, 1);

    // The gateway route serves them from the database (this process never rendered anything), with an ETag and 304.
    useProblemDetails(app, pino({ level: 'silent' }));
    await app.register(productsPlugin, { storage: async () => cluster.storage });
    const productHref = assets['enhanced-ir']!.href;
    const res = await app.inject({ method: 'GET', url: productHref });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/png');
    assert.equal(res.headers['cache-control'], PRODUCT_CACHE_CONTROL);
    assert.deepEqual([...res.rawPayload.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const etag = res.headers.etag as string;
    const again = await app.inject({ method: 'GET', url: productHref, headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    const webp = await app.inject({ method: 'GET', url: assets['cloud-top-height-webp']!.href });
    assert.equal(webp.statusCode, 200);
    assert.equal(webp.rawPayload.subarray(8, 12).toString('ascii'), 'WEBP');
    const missing = await app.inject({ method: 'GET', url: '/products/imagery/storm-512/nothing.png' });
    assert.equal(missing.statusCode, 404);
    assert.match(String(missing.headers['content-type']), /problem\+json/);
    const bad = await app.inject({ method: 'GET', url: '/products/imagery/storm-512/..%2Fetc.png' });
    assert.equal(bad.statusCode, 400);

    // The AHI scene went through the same pipeline from its segments.
    const ahiTask = await cluster.finished(ahiTaskId, 60_000);
    assert.equal(ahiTask.state, 'done', `AHI task failed: ${ahiTask.error}`);
    // observed_at is the scan start of the scene's lines, within the 10-minute slot of its nominal time.
    const ahiMetrics = await queryMetrics(cluster.db, { from: new Date(ahi.time.getTime() - 1000), to: new Date(ahi.time.getTime() + 600_000), satellite: 'himawari-9' });
    assert.ok(ahiMetrics.some((m) => m.product === 'b13.cloud_fraction' && m.cellId === SCENE_CELL), `AHI metrics: ${[...new Set(ahiMetrics.map((m) => m.product))].join(', ')}`);
    const ahiLat = ahiMetrics.find((m) => m.product === 'b13.cyclone_lat');
    const ahiLon = ahiMetrics.find((m) => m.product === 'b13.cyclone_lon');
    assert.ok(ahiLat && ahiLon && Math.abs(ahiLat.value - 16) < 1 && Math.abs(ahiLon.value - 135) < 1, `AHI cyclone at ${ahiLat?.value}, ${ahiLon?.value}`);
    const ahiDoc = (await getItem(cluster.db, 'imagery', 'ahi-storm'))!;
    assert.equal((ahiDoc.properties as Record<string, any>)['starweather:qa'].total, 512 * 500);
    assert.ok((ahiDoc.assets as Record<string, unknown>)['cloud-top-height'], 'AHI products');

    for (const h of cluster.hosts.values()) assert.equal(h.exited, false, `${h.hostId} still running`);
  } finally {
    await s3?.close();
    await app.close();
    await cluster.stop();
  }
});
