/**
 * Fixtures for the tile pipeline tests (not a test file): a fresh NATS
 * namespace and PostgreSQL schema, an asset root with real ABI L1b files
 * written by the synthetic generator, STAC items pointing at them, and tile
 * hosts as child processes (role-host-child.ts) whose IPC heartbeats the
 * test can watch (to kill one while it holds a tile).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import type { Database } from '../../actors/storage/db.js';
import { FileStore } from '../../actors/storage/file-store.js';
import type { Storage } from '../../actors/storage/index.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { migrate } from '../../actors/storage/migrate.js';
import { openPg } from '../../actors/storage/pg.js';
import { upsertCollection, upsertItem } from '../../actors/storage/stac.js';
import { createTask, getTask, type TaskRecord } from '../../actors/storage/tasks.js';
import { generateScene, type SceneOptions, type SyntheticScene } from '../../actors/tile/synthetic/scene.js';
import { abiSceneSpec, writeAbiFile } from '../../actors/tile/synthetic/write-abi.js';
import { writeAhiScene } from '../../actors/tile/synthetic/write-ahi.js';
import { IMAGERY_SCENE_KIND, ImagerySceneTaskMessage, imagerySceneTaskId } from '../../protocol/messages/imagery.js';
import { QUEUE_PRIORITY, type Names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import { freshNamespace, NATS_URL, sleep } from './cluster-fixtures.js';
import { deleteNamespace } from '../integration/nats-fixtures.js';
import { dropSchema, PG_URL, randomSchema } from './storage-backends.js';

const CHILD = fileURLToPath(new URL('./role-host-child.js', import.meta.url));
/**
 * A storm scene at native 2 km pixels: a tropical cyclone with a clear eye
 * and deep convection around it, centred in the image, so every product,
 * metric and warning has something to show.
 */
export function stormScene(size: number, seed = 7, time = new Date()): SyntheticScene {
  const lat = 18, lon = -60;
  const opts: SceneOptions = {
    seed,
    width: size,
    height: size,
    instrument: 'abi',
    lon0: -75.2,
    stepRad: 56e-6,
    centerLat: lat,
    centerLon: lon,
    time: new Date(Math.floor(time.getTime() / 1000) * 1000),
    cyclone: { lat, lon, eyeRadiusKm: 18, eyeTempK: 285, cloudTopTempK: 192, radiusKm: 450 },
  };
  return generateScene(opts);
}

/** The same storm seen by Himawari-9 (AHI geometry, sweep y), `height` a multiple of the 10 HSD segments. */
export function ahiStormScene(width: number, height: number, seed = 9, time = new Date()): SyntheticScene {
  return generateScene({
    seed,
    width,
    height,
    instrument: 'ahi',
    stepRad: 56e-6,
    centerLat: 16,
    centerLon: 135,
    time: new Date(Math.floor(time.getTime() / 600_000) * 600_000),
    cyclone: { lat: 16, lon: 135, eyeRadiusKm: 18, eyeTempK: 285, cloudTopTempK: 192, radiusKm: 450 },
  });
}

/** Write the scene's 10 bzip2 HSD segments into `dir`; returns their paths in segment order. */
export async function writeAhiSegmentsTo(dir: string, scene: SyntheticScene): Promise<string[]> {
  return writeAhiScene(dir, scene);
}

export async function writeSceneFile(dir: string, name: string, scene: SyntheticScene): Promise<string> {
  const path = join(dir, name);
  await writeAbiFile(path, abiSceneSpec(scene));
  return path;
}

/** A minimal STAC item for a scene file (or HSD segments): the pipeline reads its `data` asset(s). */
export function sceneItem(id: string, href: string | string[], time: Date): Record<string, unknown> & { id: string } {
  const assets = Array.isArray(href)
    ? Object.fromEntries(href.map((h, i) => [`segment-${String(i + 1).padStart(2, '0')}`, { href: h, type: 'application/octet-stream', roles: ['data'] }]))
    : { data: { href, type: 'application/netcdf', roles: ['data'] } };
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    collection: 'imagery',
    geometry: { type: 'Polygon', coordinates: [[[-70, 5], [-50, 5], [-50, 30], [-70, 30], [-70, 5]]] },
    bbox: [-70, 5, -50, 30],
    properties: { datetime: time.toISOString(), platform: 'goes-19', instruments: ['abi'] },
    links: [{ rel: 'collection', href: '/collections/imagery', type: 'application/json' }],
    assets,
  };
}

export interface TileHost {
  hostId: string;
  proc: ChildProcess;
  stderr: string;
  /** inFlight from the latest heartbeat. */
  inFlight: number;
  handlers: string[];
  exited: boolean;
}

export class TileCluster {
  readonly names: Names;
  readonly schema: string;
  readonly root: string;
  readonly hosts = new Map<string, TileHost>();
  private constructor(
    names: Names,
    schema: string,
    root: string,
    readonly db: Database,
    readonly transport: Transport,
    readonly storage: Storage,
    private readonly env: Record<string, string>,
  ) {
    this.names = names;
    this.schema = schema;
    this.root = root;
  }

  static async create(env: Record<string, string> = {}): Promise<TileCluster> {
    const n = freshNamespace();
    const schema = randomSchema();
    const root = mkdtempSync(join(tmpdir(), 'sw-tile-'));
    const db = await openPg({ url: PG_URL, schema, max: 4, applicationName: 'starweather-tile-test' });
    await migrate(db);
    await upsertCollection(db, { id: 'imagery', type: 'Collection', stac_version: '1.0.0', description: 'test imagery', license: 'proprietary', extent: {}, links: [] });
    // The hosts provision the same topology (their config): equal values, or provisioning would fight.
    env = { STARWEATHER_MAX_DELIVER: '3', STARWEATHER_ACK_WAIT_MS: '10000', ...env };
    const maxDeliver = Number(env.STARWEATHER_MAX_DELIVER);
    const ackWaitMs = Number(env.STARWEATHER_ACK_WAIT_MS);
    const transport = await connectNats({
      servers: NATS_URL,
      names: n,
      topology: { ...(await import('../../protocol/topology.js')).DEFAULT_TOPOLOGY, ackWaitMs, maxDeliver },
    });
    await transport.provision();
    const files = await FileStore.open({ root: join(root, 'gateway-files'), maxBytes: 64 * 1024 * 1024 });
    const storage = { db, cache: new MemoryCache(), files } as unknown as Storage;
    return new TileCluster(n, schema, root, db, transport, storage, env);
  }

  /** Fork a tile host; resolves once it reports its handlers (worker started). */
  start(hostId: string, env: Record<string, string> = {}): Promise<TileHost> {
    const proc = fork(CHILD, [], {
      env: {
        ...process.env,
        NATS_URL,
        DATABASE_URL: PG_URL,
        REDIS_URL: '',
        SW_HOST_ROLE: 'tile',
        SW_HOST_SCHEMA: this.schema,
        SW_HOST_ID: hostId,
        STARWEATHER_NAMESPACE: this.names.namespace,
        STARWEATHER_NODE_ID: hostId,
        STARWEATHER_DATA_DIR: join(this.root, `data-${hostId}`),
        STARWEATHER_ASSET_FILE_ROOT: join(this.root, 'assets'),
        STARWEATHER_LOG_LEVEL: process.env.SW_TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn',
        STARWEATHER_HEARTBEAT_MS: '200',
        STARWEATHER_RETRY_DELAY_MS: '100',
        STARWEATHER_IMAGERY_SOURCES: 'none',
        STARWEATHER_CATALOG_ENABLED: 'false',
        ...this.env,
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const host: TileHost = { hostId, proc, stderr: '', inFlight: 0, handlers: [], exited: false };
    this.hosts.set(hostId, host);
    proc.stderr!.on('data', (d: Buffer) => (host.stderr = (host.stderr + d.toString()).slice(-20_000)));
    proc.on('exit', () => (host.exited = true));
    return new Promise((resolve, reject) => {
      proc.on('message', (m: { type?: string; inFlight?: number; handlers?: string[] }) => {
        if (m.type === 'heartbeat') host.inFlight = m.inFlight ?? 0;
        if (m.type === 'info' && Array.isArray(m.handlers)) {
          host.handlers = m.handlers;
          if (m.handlers.length > 0) resolve(host);
        }
      });
      proc.once('exit', (code, signal) => reject(new Error(`${hostId} exited before ready (code ${code}, signal ${signal}): ${host.stderr}`)));
    });
  }

  kill(hostId: string): void {
    this.hosts.get(hostId)!.proc.kill('SIGKILL');
  }

  /** Register the item and its task row, then enqueue its imagery.scene task (as the gateway does). */
  async submit(item: Record<string, unknown> & { id: string }, queue: 'weather' | 'high' = 'weather'): Promise<string> {
    await upsertItem(this.db, item);
    const taskId = imagerySceneTaskId('imagery', item.id);
    await createTask(this.db, { id: taskId, kind: IMAGERY_SCENE_KIND, item: `imagery/${item.id}`, priority: QUEUE_PRIORITY[queue] });
    await enqueueTask(this.transport, { queue, id: taskId, kind: IMAGERY_SCENE_KIND, payload: { v: 1, collection: 'imagery', itemId: item.id }, payloadType: ImagerySceneTaskMessage });
    return taskId;
  }

  /** Poll the task row until it is done or failed. */
  async finished(taskId: string, timeoutMs: number): Promise<TaskRecord> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const t = await getTask(this.db, taskId);
      if (t && (t.state === 'done' || t.state === 'failed')) return t;
      if (Date.now() > end) {
        const errs = [...this.hosts.values()].map((h) => `${h.hostId}: ${h.stderr.slice(-3000)}`).join('\n');
        throw new Error(`task ${taskId} not finished after ${timeoutMs} ms (state ${t?.state}, error ${t?.error})\n${errs}`);
      }
      await sleep(200);
    }
  }

  assetsDir(): string {
    return join(this.root, 'assets');
  }

  fileHref(path: string): string {
    return pathToFileURL(path).href;
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.hosts.values()].map(async (h) => {
        if (h.exited) return;
        const gone = new Promise((r) => h.proc.once('exit', r));
        h.proc.kill('SIGTERM');
        const t = setTimeout(() => h.proc.kill('SIGKILL'), 8000);
        await gone;
        clearTimeout(t);
      }),
    );
    await this.transport.close().catch(() => undefined);
    await deleteNamespace(NATS_URL, this.names).catch(() => undefined);
    await this.db.close().catch(() => undefined);
    await dropSchema(this.schema).catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}
