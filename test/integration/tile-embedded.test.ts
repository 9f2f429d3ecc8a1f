/**
 * The tile pipeline in a real embedded node (`starweather start`: every
 * role inline, PGlite, the in-process bus): an ABI L1b file dropped into
 * the imagery directory is registered by the ingest through the gateway,
 * processed by the inline tile host, and its task ends done with product
 * assets the node's gateway serves with caching headers.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/nats-server.js';
import { spawnNode, waitFor, type Spawned } from '../helpers/processes.js';
import { abiFileName, abiSceneSpec, writeAbiFile } from '../../actors/tile/synthetic/write-abi.js';
import { stormScene } from '../helpers/tile-fixtures.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'sw-tilenode-'));
let node: Spawned | null = null;
after(() => {
  if (node && node.proc.exitCode === null && node.proc.signalCode === null) node.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('npm start (embedded, all roles inline) processes a dropped scene to done and serves its products', { timeout: 120_000 }, async () => {
  const drop = join(dir, 'drop');
  mkdirSync(drop, { recursive: true });
  const scene = stormScene(512, 21, new Date(Date.now() - 60_000));
  const spec = abiSceneSpec(scene, { sceneId: 'CONUS' });
  const name = abiFileName(spec);
  await writeAbiFile(join(drop, name), spec);
  const itemId = name.replace(/_c\d{14}\.nc$/, '');

  const port = await freePort();
  node = spawnNode([CLI, 'start'], {
    NATS_URL: undefined,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_API_KEY: undefined,
    STARWEATHER_ROLES: undefined,
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_PORT: String(port),
    STARWEATHER_DATA_DIR: join(dir, 'data'),
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_CATALOG_ENABLED: 'false',
    STARWEATHER_IMAGERY_SOURCES: 'none',
    STARWEATHER_IMAGERY_INTERVAL_MS: '1000',
    STARWEATHER_IMAGERY_DIR: drop,
    STARWEATHER_ASSET_FILE_ROOT: drop,
    STARWEATHER_TILE_SIZE: '256',
    STARWEATHER_SHUTDOWN_TIMEOUT_MS: '5000',
  });
  const base = `http://127.0.0.1:${port}`;
  const taskUrl = `${base}/tasks/${encodeURIComponent(`stac:imagery:${itemId}`)}`;
  let task: { state?: string; error?: string | null } = {};
  const finished = await waitFor(async () => {
    if (node!.proc.exitCode !== null) return true;
    try {
      const res = await fetch(taskUrl);
      if (res.status !== 200) return false;
      task = (await res.json()) as typeof task;
      return task.state === 'done' || task.state === 'failed';
    } catch {
      return false;
    }
  }, 100_000, 250);
  assert.ok(finished && node.proc.exitCode === null, `node exited or task unfinished: ${JSON.stringify(task)}\n${node.stderr().slice(-4000)}`);
  assert.equal(task.state, 'done', `${task.error}\n${node.stderr().slice(-4000)}`);

  const item = (await (await fetch(`${base}/collections/imagery/items/${itemId}`)).json()) as { assets: Record<string, { href: string; type: string }>; properties: Record<string, any> };
  assert.ok(item.properties['starweather:qa'].valid > 0);
  const href = item.assets['enhanced-ir']?.href;
  assert.ok(href, JSON.stringify(Object.keys(item.assets)));
  const res = await fetch(new URL(href, base));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/);
  const etag = res.headers.get('etag')!;
  assert.ok((await res.arrayBuffer()).byteLength > 1000);
  const again = await fetch(new URL(href, base), { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);

  const health = (await (await fetch(`${base}/health`)).json()) as { hosts: Array<{ role: string; state: string; handlers: string[] }> };
  const tile = health.hosts.find((h) => h.role === 'tile')!;
  assert.equal(tile.state, 'running');
  assert.ok(tile.handlers.includes('imagery.tile'));

  node.proc.kill('SIGTERM');
  const { code } = await node.exited;
  assert.equal(code, 0, node.stderr().slice(-4000));
});
