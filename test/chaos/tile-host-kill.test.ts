/**
 * A tile host SIGKILLed mid-scene: it holds unacked tile tasks (running and
 * prefetched) when it dies. After AckWait they are redelivered to the other
 * host, the scene completes, and nothing is doubled: one result per tile,
 * exactly the metric rows and alerts the stored results imply, one set of
 * product assets.
 *
 * The victim runs alone until it has stored a tile and holds more; the
 * survivor starts as it dies. With both running from the start the survivor
 * sometimes took nearly every tile before the victim stored one, and the
 * test had nothing to kill mid-scene (seen in CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { listAlerts } from '../../actors/storage/alerts.js';
import { getItem } from '../../actors/storage/stac.js';
import { getTileScene, listTileResults } from '../../actors/storage/tile-results.js';
import { metricRows, stormWarnings } from '../../actors/tile/pipeline/outputs.js';
import { sceneStats } from '../../actors/tile/pipeline/merge.js';
import type { TileStats } from '../../actors/tile/pipeline/process-tile.js';
import { sceneItem, stormScene, TileCluster, writeSceneFile } from '../helpers/tile-fixtures.js';
import { waitFor } from '../helpers/processes.js';

test('a tile host killed mid-scene: the scene still completes and no row is doubled', { timeout: 150_000 }, async (tc) => {
  const cluster = await TileCluster.create({
    STARWEATHER_TILE_SIZE: '128',
    STARWEATHER_ACK_WAIT_MS: '3000',
    STARWEATHER_MAX_DELIVER: '5',
    STARWEATHER_WORK_CONCURRENCY: '1',
    STARWEATHER_WORK_PREFETCH: '4',
    STARWEATHER_TILE_CONCURRENCY: '1',
  });
  try {
    mkdirSync(cluster.assetsDir(), { recursive: true });
    const time = new Date();
    const scene = stormScene(512, 5, time);
    const path = await writeSceneFile(cluster.assetsDir(), 'kill.nc', scene);
    await cluster.start('victim');
    const taskId = await cluster.submit(sceneItem('kill-scene', cluster.fileHref(path), scene.time));

    // Kill the victim once it has stored a tile and still holds work, with tiles left to do.
    let killedWith = -1;
    const killed = await waitFor(async () => {
      const tiling = await getTileScene(cluster.db, taskId);
      if (!tiling) return false;
      const r = await cluster.db.query<{ host: string; n: string }>('SELECT host, count(*) AS n FROM tile_results WHERE task_id = $1 GROUP BY host', [taskId]);
      const byHost = new Map(r.rows.map((x) => [x.host, Number(x.n)]));
      const done = [...byHost.values()].reduce((a, b) => a + b, 0);
      if ((byHost.get('victim') ?? 0) >= 1 && cluster.hosts.get('victim')!.inFlight > 0 && tiling.tileCount - done >= 6) {
        killedWith = done;
        cluster.kill('victim');
        return true;
      }
      return false;
    }, 60_000, 20);
    assert.ok(killed, 'the victim was killed mid-scene');
    await cluster.start('survivor');

    const task = await cluster.finished(taskId, 100_000);
    assert.equal(task.state, 'done', task.error ?? '');
    assert.equal(cluster.hosts.get('victim')!.exited, true);
    assert.equal(cluster.hosts.get('survivor')!.exited, false);

    const tiling = (await getTileScene(cluster.db, taskId))!;
    assert.equal(tiling.tileCount, 16);
    const tiles = await listTileResults(cluster.db, taskId, tiling.fingerprint);
    assert.deepEqual(tiles.map((t) => t.index), [...Array(16).keys()], 'one result per tile');
    assert.ok(killedWith < 16);
    tc.diagnostic(`killed with ${killedWith} tiles stored; results (index, host, delivery): ${JSON.stringify(tiles.map((t) => [t.index, t.host, t.delivery]))}`);
    // Work the victim held came back to the survivor after AckWait.
    assert.ok(tiles.some((t) => t.host === 'survivor' && (t.delivery ?? 1) >= 2), `a redelivered tile was finished by the survivor: ${JSON.stringify(tiles.map((t) => [t.index, t.host, t.delivery]))}`);

    // Exactly the metric rows the stored results imply (recomputed here from the same stats).
    const stats = tiles.map((t) => t.stats as unknown as TileStats);
    const cyc = await cluster.db.query<{ rows: string; cells: string }>(
      `SELECT count(*) AS rows, count(DISTINCT cell_id) AS cells FROM weather_metrics WHERE task_id = $1 AND product LIKE 'b13.cyclone\\_%'`, [taskId],
    );
    const cycloneRows = Number(cyc.rows[0]!.rows);
    const cyclones = Number(cyc.rows[0]!.cells);
    assert.ok(cyclones >= 1, 'the storm was found');
    const ctx = { observedAt: scene.time, satellite: 'goes-19', band: 13, tileSize: 128, taskId, stormMinOvershoots: 5 };
    const expectedRows = metricRows(ctx, stats, sceneStats(stats), []).length + cycloneRows;
    const rows = await cluster.db.query<{ n: string }>('SELECT count(*) AS n FROM weather_metrics WHERE task_id = $1', [taskId]);
    assert.equal(Number(rows.rows[0]!.n), expectedRows);

    const stormTiles = stormWarnings('imagery', 'kill-scene', 'goes-19', scene.time, stats, [], 5, 2).length;
    const alerts = (await listAlerts(cluster.db)).filter((a) => (a.payload as { itemId?: string }).itemId === 'kill-scene');
    // One scene: a cyclone warns only for a clear eye (its track has one scene), once per fix's track however often the finalize ran.
    const fixes = await cluster.db.query<{ track_id: string; scene: string; eye_temp_k: number | null; cloud_temp_k: number; raw_t: number }>(`SELECT track_id, scene, eye_temp_k, cloud_temp_k, raw_t FROM storm_fixes WHERE item_id = 'kill-scene'`);
    assert.equal(fixes.rows.length, cyclones, 'each cyclone fix stored once, on its own track');
    const clearEyes = fixes.rows.filter((f) => f.scene === 'eye' && f.eye_temp_k !== null && Number(f.eye_temp_k) - Number(f.cloud_temp_k) >= 30 && Number(f.raw_t) >= 4.5).length;
    assert.equal(alerts.length, stormTiles + clearEyes);
    assert.equal(new Set(alerts.map((a) => a.id)).size, alerts.length);

    const doc = (await getItem(cluster.db, 'imagery', 'kill-scene'))!;
    assert.deepEqual(Object.keys(doc.assets as object).sort(), ['cloud-top-height', 'cloud-top-height-webp', 'data', 'enhanced-ir', 'enhanced-ir-webp']);
    const products = await cluster.db.query<{ n: string }>(`SELECT count(*) AS n FROM tile_products WHERE item_id = 'kill-scene'`);
    assert.equal(Number(products.rows[0]!.n), 4);
  } finally {
    await cluster.stop();
  }
});
