/**
 * The imagery ingest in a real embedded node (`starweather start`, roles
 * ingest + gateway): it polls a local S3-compatible server and a drop
 * directory, reads the API key the gateway generated under the data dir, and
 * the scenes appear in the node's own STAC API. SIGTERM ends it cleanly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/nats-server.js';
import { spawnNode, waitFor, type Spawned } from '../helpers/processes.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { abiFileName, writeAbiFile } from '../helpers/abi-file.js';
import { prefixFor } from '../../actors/ingest/imagery-keys.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'sw-imgnode-'));
let node: Spawned | null = null;
let s3: S3TestServer | null = null;
after(async () => {
  if (node && node.proc.exitCode === null && node.proc.signalCode === null) node.proc.kill('SIGKILL');
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an embedded node registers scenes from S3 and a drop directory into its own STAC API', { timeout: 90_000 }, async () => {
  const bucketRoot = join(dir, 's3');
  const drop = join(dir, 'drop');
  mkdirSync(drop, { recursive: true });
  const now = new Date();
  const s3Start = new Date(Math.floor((now.getTime() - 60_000) / 1000) * 1000);
  const s3Name = abiFileName({ sector: 'F', start: s3Start });
  const s3Key = prefixFor('abi', 'ABI-L1b-RadF', s3Start) + s3Name;
  await mkdir(join(bucketRoot, 'noaa-goes19', ...s3Key.split('/').slice(0, -1)), { recursive: true });
  await writeAbiFile(join(bucketRoot, 'noaa-goes19', ...s3Key.split('/')), { sector: 'F', start: s3Start });
  const dropStart = new Date('2026-11-25T17:01:17.1Z');
  const dropName = abiFileName({ sector: 'C', start: dropStart, satellite: 'G18', lon0: -137.0 });
  await writeAbiFile(join(drop, dropName), { sector: 'C', start: dropStart, satellite: 'G18', lon0: -137.0 });

  s3 = await startS3Server(bucketRoot);
  const endpoint = s3.url.replace('127.0.0.1', 'localhost');
  const hostPort = new URL(endpoint).host;
  const port = await freePort();
  node = spawnNode([CLI, 'start'], {
    NATS_URL: undefined,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_API_KEY: undefined,
    STARWEATHER_ROLES: 'ingest,gateway',
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_PORT: String(port),
    STARWEATHER_DATA_DIR: join(dir, 'data'),
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_CATALOG_ENABLED: 'false',
    STARWEATHER_S3_ENDPOINT: endpoint,
    STARWEATHER_IMAGERY_SOURCES: 'goes-east',
    STARWEATHER_IMAGERY_PRODUCTS: 'ABI-L1b-RadF',
    STARWEATHER_IMAGERY_INTERVAL_MS: '1000',
    STARWEATHER_IMAGERY_DIR: drop,
    STARWEATHER_ASSET_FILE_ROOT: drop,
    STARWEATHER_ASSET_HOSTS: hostPort,
    STARWEATHER_ASSET_PRIVATE_HOSTS: hostPort,
    STARWEATHER_ASSET_SCHEMES: 'https,http',
    STARWEATHER_SHUTDOWN_TIMEOUT_MS: '5000',
  });
  const base = `http://127.0.0.1:${port}`;
  const s3Id = s3Name.replace(/_c\d{14}\.nc$/, '');
  const dropId = dropName.replace(/_c\d{14}\.nc$/, '');
  let items: Array<{ id: string; assets: Record<string, { href: string }>; properties: Record<string, unknown> }> = [];
  const ok = await waitFor(async () => {
    if (node!.proc.exitCode !== null) return true;
    try {
      const res = await fetch(`${base}/collections/imagery/items?limit=10`);
      if (res.status !== 200) return false;
      items = ((await res.json()) as { features: typeof items }).features;
      return items.length >= 2;
    } catch {
      return false;
    }
  }, 60_000, 250);
  assert.ok(ok && node.proc.exitCode === null, `node exited or items missing: ${JSON.stringify(items.map((i) => i.id))}\n${node.stderr()}`);
  assert.deepEqual(items.map((i) => i.id).sort(), [s3Id, dropId].sort());
  const fromS3 = items.find((i) => i.id === s3Id)!;
  assert.equal(fromS3.assets.data!.href, `${endpoint}/noaa-goes19/${s3Key}`);
  const fromDrop = items.find((i) => i.id === dropId)!;
  assert.ok(fromDrop.assets.data!.href.startsWith('file://'));
  assert.equal(fromDrop.properties.platform, 'goes-18');
  const task = (await (await fetch(`${base}/tasks/${encodeURIComponent(`stac:imagery:${s3Id}`)}`)).json()) as { state: string };
  assert.equal(task.state, 'queued');

  const health = (await (await fetch(`${base}/health`)).json()) as { hosts: Array<{ role: string; state: string }> };
  assert.equal(health.hosts.find((h) => h.role === 'ingest')?.state, 'running');

  node.proc.kill('SIGTERM');
  const { code } = await node.exited;
  assert.equal(code, 0, node.stderr());
});
