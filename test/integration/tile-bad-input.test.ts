/**
 * Bad scene files on a tile host process over NATS: a corrupt netCDF4/HDF5
 * file, a truncated one, a damaged bzip2 Himawari segment, a file of the
 * wrong format and a missing file.
 * Each scene task fails with a clear reason on its row after its retries,
 * is dead-lettered with that reason, and the host neither crashes nor stops
 * working: a good scene submitted afterwards completes on the same process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTask } from '../../actors/storage/tasks.js';
import { sceneItem, stormScene, TileCluster, writeSceneFile } from '../helpers/tile-fixtures.js';

test('corrupt, truncated, wrong-format and missing files fail their tasks with a clear reason, dead-letter after retries, and the host keeps working', { timeout: 120_000 }, async (ctx) => {
  const cluster = await TileCluster.create({ STARWEATHER_MAX_DELIVER: '2', STARWEATHER_TILE_SIZE: '256' });
  try {
    const dir = cluster.assetsDir();
    mkdirSync(dir, { recursive: true });
    const time = new Date();
    const good = await writeSceneFile(dir, 'good.nc', stormScene(256, 3, time));
    const bytes = readFileSync(good);
    // Corrupt: the HDF5 signature, then noise.
    const corrupt = Buffer.alloc(64 * 1024);
    for (let i = 0; i < corrupt.length; i++) corrupt[i] = (i * 2654435761) >>> 24;
    Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]).copy(corrupt);
    writeFileSync(join(dir, 'corrupt.nc'), corrupt);
    writeFileSync(join(dir, 'truncated.nc'), bytes.subarray(0, Math.floor(bytes.length / 3)));
    writeFileSync(join(dir, 'wrong.nc'), Buffer.from('%PDF-1.4\nnot a satellite scene at all\n'));
    // A Himawari segment whose bzip2 stream is damaged after its header.
    writeFileSync(join(dir, 'HS_H09_20260101_0000_B13_FLDK_R20_S0110.DAT.bz2'), Buffer.concat([Buffer.from('BZh91AY&SY'), corrupt.subarray(100, 4000)]));

    const host = await cluster.start('tile-bad');
    const cases = [
      { id: 'corrupt', file: 'corrupt.nc', reason: /SW_ERR_DECODE/ },
      { id: 'truncated', file: 'truncated.nc', reason: /SW_ERR_DECODE/ },
      { id: 'wrong-format', file: 'wrong.nc', reason: /SW_ERR_DECODE/ },
      { id: 'corrupt-hsd', file: 'HS_H09_20260101_0000_B13_FLDK_R20_S0110.DAT.bz2', reason: /SW_ERR_DECODE/ },
      { id: 'missing', file: 'not-there.nc', reason: /SW_ERR_NOT_FOUND: asset data .*no such file/ },
    ];
    const tasks = new Map<string, string>();
    for (const c of cases) tasks.set(c.id, await cluster.submit(sceneItem(c.id, cluster.fileHref(join(dir, c.file)), time)));

    for (const c of cases) {
      const t = await cluster.finished(tasks.get(c.id)!, 60_000);
      assert.equal(t.state, 'failed', c.id);
      assert.match(t.error ?? '', /^scene: /, `${c.id}: the failed step is named`);
      assert.match(t.error ?? '', c.reason, `${c.id}: ${t.error}`);
      assert.equal(t.attempts, 2, `${c.id}: retried up to MaxDeliver`);
      assert.ok(t.failedAt);
      ctx.diagnostic(`${c.id}: ${t.error}`);
    }
    // The reasons say what is wrong with the file, not just that decoding failed.
    const wrong = (await getTask(cluster.db, tasks.get('wrong-format')!))!.error!;
    assert.match(wrong, /format|HDF5|netCDF|HSD|recogni/i, wrong);
    const truncated = (await getTask(cluster.db, tasks.get('truncated')!))!.error!;
    assert.match(truncated, /truncat|short|end of file|corrupt|HDF5|read/i, truncated);

    // Dead letters: one per task, with the decode code and the reason.
    const deadline = Date.now() + 15_000;
    let dead = await cluster.transport.deadLetters(100);
    while (dead.length < cases.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      dead = await cluster.transport.deadLetters(100);
    }
    for (const c of cases) {
      const d = dead.find((x) => x.taskId === tasks.get(c.id));
      assert.ok(d, `${c.id} dead-lettered`);
      assert.equal(d.kind, 'imagery.scene');
      assert.equal(d.deliveries, 2);
      assert.match(`${d.code}: ${d.reason}`, c.reason);
    }

    // Same process, still serving: a good scene completes.
    assert.equal(host.exited, false, host.stderr);
    const ok = await cluster.submit(sceneItem('good', cluster.fileHref(good), time));
    const t = await cluster.finished(ok, 60_000);
    assert.equal(t.state, 'done', t.error ?? '');
    assert.equal(host.exited, false);
  } finally {
    await cluster.stop();
  }
});
