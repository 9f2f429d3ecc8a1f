/**
 * Where a scene's bytes come from: the data assets of its STAC item, read
 * through the same guards the gateway applies to hrefs (ssrf.ts): file:
 * hrefs under the asset root (symlinks resolved), http(s) hrefs through
 * safeFetch (checked addresses, no redirects, a byte cap). Fetched objects
 * are kept in the node's file store, so the other tile hosts of a node and a
 * redelivered task do not fetch them again; decoded scenes are kept in a
 * small per-process LRU, because every tile of a scene reads the same file.
 * The decode itself runs on a worker thread (formats/read-thread.ts).
 */
import { createHash } from 'node:crypto';
import { StarWeatherError } from '../../../protocol/errors.js';
import { readAssetFile, safeFetch, type AssetPolicy } from '../../gateway/ssrf.js';
import type { Files } from '../../storage/file-store.js';
import type { StacDoc } from '../../storage/stac.js';
import { sceneFileKey } from '../../storage/tile-results.js';
import { readSceneOffLoop } from '../formats/read-thread.js';
import type { SceneBand } from '../types.js';

export interface SceneAsset {
  key: string;
  href: string;
  size: number | null;
}

/**
 * The item's data assets in key order: every asset whose roles include
 * `data` (an ABI file is `data`, AHI segments are `segment-NN`).
 */
export function dataAssets(item: StacDoc): SceneAsset[] {
  const assets = item.assets;
  if (typeof assets !== 'object' || assets === null) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `item ${item.id} has no assets`);
  const out: SceneAsset[] = [];
  for (const [key, a] of Object.entries(assets as Record<string, unknown>)) {
    if (typeof a !== 'object' || a === null) continue;
    const { href, roles } = a as { href?: unknown; roles?: unknown };
    const isData = Array.isArray(roles) ? roles.includes('data') : key === 'data';
    if (!isData || typeof href !== 'string') continue;
    const size = (a as Record<string, unknown>)['file:size'];
    out.push({ key, href, size: typeof size === 'number' ? size : null });
  }
  if (out.length === 0) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `item ${item.id} has no data asset (an asset with role "data")`);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** 16 hex digits over what the scene is read from: a re-registered item naming other files gets a new one. */
export function sceneFingerprint(assets: readonly SceneAsset[]): string {
  const h = createHash('sha256');
  for (const a of assets) h.update(`${a.key}\u0000${a.href}\u0000${a.size ?? ''}\n`);
  return h.digest('hex').slice(0, 16);
}

export interface SceneSourceOptions {
  policy: AssetPolicy;
  files: Files;
  /** Largest object read (whole files, not headers). */
  maxBytes: number;
  fetchTimeoutMs: number;
  /** Decoded scenes kept in this process. */
  cacheScenes: number;
}

export interface LoadedScene {
  fingerprint: string;
  band: SceneBand;
}

/** Scenes by `<collection>/<item>@<fingerprint>`, least recently used first. */
export class SceneSource {
  private readonly opts: SceneSourceOptions;
  private readonly cache = new Map<string, Promise<SceneBand>>();

  constructor(opts: SceneSourceOptions) {
    this.opts = opts;
  }

  /** Decode (or take from the LRU) the scene of `item`; concurrent callers share one read. */
  async load(collection: string, item: StacDoc): Promise<LoadedScene> {
    const assets = dataAssets(item);
    const fingerprint = sceneFingerprint(assets);
    const key = `${collection}/${item.id}@${fingerprint}`;
    let p = this.cache.get(key);
    if (p) {
      this.cache.delete(key);
      this.cache.set(key, p);
    } else {
      p = this.read(collection, item.id, assets);
      this.cache.set(key, p);
      // A failed read is not cached: the next delivery tries again.
      p.catch(() => {
        if (this.cache.get(key) === p) this.cache.delete(key);
      });
      while (this.cache.size > Math.max(1, this.opts.cacheScenes)) this.cache.delete(this.cache.keys().next().value!);
    }
    return { fingerprint, band: await p };
  }

  private async read(collection: string, itemId: string, assets: readonly SceneAsset[]): Promise<SceneBand> {
    const files: Array<{ name: string; bytes: Uint8Array }> = [];
    for (const a of assets) files.push({ name: a.href.slice(a.href.lastIndexOf('/') + 1) || a.key, bytes: await this.bytes(collection, itemId, a) });
    // Decoded on a worker thread: a full disk is 0.4 s and more of synchronous WASM.
    return readSceneOffLoop(files);
  }

  private async bytes(collection: string, itemId: string, a: SceneAsset): Promise<Uint8Array> {
    const { policy, files, maxBytes } = this.opts;
    if (a.href.startsWith('file:')) {
      const r = await readAssetFile(a.href, policy, { maxBytes });
      if (!r.ok) throw new StarWeatherError(r.code === 'not_found' ? 'SW_ERR_NOT_FOUND' : r.code === 'io' ? 'SW_ERR_STORAGE' : 'SW_ERR_INVALID_ARGUMENT', `asset ${a.key} (${a.href.slice(0, 300)}): ${r.reason}`);
      return r.body;
    }
    const cacheKey = sceneFileKey('sources', collection, itemId, a.key);
    const hit = await files.get(cacheKey).catch(() => null);
    if (hit) return hit.data;
    const r = await safeFetch(a.href, policy, { timeoutMs: this.opts.fetchTimeoutMs, maxBytes });
    if (!r.ok) throw new StarWeatherError(r.kind === 'blocked' ? 'SW_ERR_INVALID_ARGUMENT' : 'SW_ERR_TRANSPORT', `asset ${a.key} (${a.href.slice(0, 300)}): ${r.reason}`);
    if (r.status === 404) throw new StarWeatherError('SW_ERR_NOT_FOUND', `asset ${a.key} (${a.href.slice(0, 300)}): HTTP 404`);
    if (r.status !== 200) throw new StarWeatherError('SW_ERR_TRANSPORT', `asset ${a.key} (${a.href.slice(0, 300)}): HTTP ${r.status}`);
    // A cache write that fails (full disk, cap smaller than the file) only costs a later refetch.
    if (r.body.byteLength <= files.maxBytes / 4) await files.put(cacheKey, r.body).catch(() => undefined);
    return r.body;
  }
}
