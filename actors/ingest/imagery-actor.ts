/**
 * ImageryIngest: the cluster's one imagery ingest actor, elected by the lease
 * `singleton.imagery-ingest` (renewed every third of its length, like the
 * catalog ingest). The leader polls every interval:
 *  - S3 sources: for each source × product, ListObjectsV2 over the prefixes
 *    of the current and previous hour (GOES) or the last hour's ten-minute
 *    slots (Himawari); keys are parsed by the official file-name patterns and
 *    filtered by band;
 *  - the local directory (STARWEATHER_IMAGERY_DIR), walked the same way.
 * Each new scene's header is read (HTTP Range, growing on demand), a STAC
 * Item built and POSTed to the gateway's transaction endpoint. Outcomes go to
 * imagery_ingested, so no leader, new or restarted, registers a scene twice.
 *
 * Himawari: the 10 segments of one band and time are ONE item, registered
 * when all are listed, or `segmentTimeoutMs` after the first was seen (then
 * with the segments present, listed in starweather:segments_missing).
 *
 * Gateway answers: 2xx (202, or the idempotent re-POST) → registered; 409 and
 * other 4xx → rejected with the reason, not retried; 401/403/404/408/429, 5xx
 * and network errors → tried again next poll (a key not yet configured or a
 * gateway still starting must not lose scenes).
 */
import { readFile, readdir, stat, open } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import { errorMessage } from '../../protocol/errors.js';
import type { LeaseManager } from '../runtime/lease.js';
import { SingletonLease } from '../runtime/singleton.js';
import type { Database } from '../storage/db.js';
import { HeaderIncompleteError, ImageryFormatError, readAbiHeader, readAhiHeader, type AhiHeader } from './imagery-header.js';
import { goesItem, himawariItem, type HimawariSegmentRef, type StacItem } from './imagery-item.js';
import { SOURCES, parseGoesKey, parseHimawariKey, prefixesToPoll, type GoesKey, type HimawariKey, type KeyParse, type SourceSpec } from './imagery-keys.js';
import { handledIds, recordIngested } from './imagery-registry.js';
import { S3Client, type HttpGet } from './imagery-s3.js';
import { imageryFetchPolicy, safeGet } from './imagery-fetch.js';
import { API_KEY_FILE } from '../gateway/auth.js';
import type { ImageryMetrics } from './imagery-metrics.js';

export const IMAGERY_LEASE_KEY = 'singleton.imagery-ingest';
const LOOKBACK_MS = 3_600_000;
/** Skip kinds that repeat unchanged every poll (the same key listed again). */
const ONCE_KINDS = new Set(['malformed_key', 'unknown_platform']);

export interface PostResult {
  outcome: 'registered' | 'rejected' | 'retry';
  status: number | null;
  taskId: string | null;
  reason: string;
}

export type ItemPoster = (item: StacItem) => Promise<PostResult>;

export interface ImageryIngestOptions {
  config: Config;
  db: Database;
  leases: LeaseManager;
  logger: Logger;
  hostId: string;
  /** How S3 is read; defaults to the SSRF-guarded safeFetch under imageryFetchPolicy(config). */
  httpGet?: HttpGet;
  /** How items are registered (defaults to POST {gatewayUrl}/collections/imagery/items). */
  post?: ItemPoster;
  /** The write key; defaults to STARWEATHER_API_KEY, else <dataDir>/api-key. */
  apiKey?: () => Promise<string | null>;
  now?: () => Date;
  metrics?: ImageryMetrics | null;
}

export interface ImageryStats {
  polls: number;
  leaderships: number;
  listed: number;
  registered: number;
  rejected: number;
  retries: number;
  malformedKeys: number;
  listErrors: number;
  /** Skip/reject counts by reason kind. */
  reasons: Record<string, number>;
}

/** The last reasons, for /health and tests. */
export interface SkipNote {
  what: string;
  reason: string;
}

/** STARWEATHER_API_KEY, else the key an embedded gateway generated under dataDir (read each time: it may appear later). */
export async function defaultApiKey(cfg: Config): Promise<string | null> {
  if (cfg.gateway.apiKey) return cfg.gateway.apiKey;
  try {
    return (await readFile(join(cfg.dataDir, API_KEY_FILE), 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

export function gatewayBase(cfg: Config): string {
  return (cfg.imagery.gatewayUrl || `http://127.0.0.1:${cfg.http.port}`).replace(/\/+$/, '');
}

export function gatewayPoster(cfg: Config, apiKey: () => Promise<string | null>): ItemPoster {
  const base = gatewayBase(cfg);
  return async (item) => {
    const key = await apiKey();
    let res: Response;
    try {
      res = await fetch(`${base}/collections/imagery/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(item),
        signal: AbortSignal.timeout(cfg.imagery.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      return { outcome: 'retry', status: null, taskId: null, reason: `gateway unreachable: ${errorMessage(err)}` };
    }
    const text = await res.text().catch(() => '');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // a non-JSON answer keeps its text as the reason
    }
    const detail = String(body.detail ?? body.title ?? text).slice(0, 500);
    if (res.status >= 200 && res.status < 300) return { outcome: 'registered', status: res.status, taskId: typeof body.taskId === 'string' ? body.taskId : null, reason: '' };
    if ([401, 403, 404, 408, 429].includes(res.status) || res.status >= 500) return { outcome: 'retry', status: res.status, taskId: null, reason: `gateway ${res.status}: ${detail}` };
    return { outcome: 'rejected', status: res.status, taskId: null, reason: `gateway ${res.status}: ${detail}` };
  };
}

interface Candidate {
  source: SourceSpec;
  itemId: string;
  /** S3: bucket; local: null. */
  bucket: string | null;
  objects: Array<{ key: GoesKey | HimawariKey; size: number; href: string; path: string | null }>;
}

export class ImageryIngest {
  readonly stats: ImageryStats = { polls: 0, leaderships: 0, listed: 0, registered: 0, rejected: 0, retries: 0, malformedKeys: 0, listErrors: 0, reasons: {} };
  readonly lastSkips: SkipNote[] = [];
  private readonly o: ImageryIngestOptions;
  private readonly cfg: Config['imagery'];
  private readonly s3: S3Client;
  private readonly post: ItemPoster;
  private readonly collectionHref: string;
  private readonly now: () => Date;
  private readonly singleton: SingletonLease;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private nextPollAt: number | null = null;
  private stopping = false;
  /** Himawari scenes waiting for segments: item id → first seen (ms). */
  private readonly firstSeen = new Map<string, number>();
  /** Local-directory files as the last poll saw them (size, mtime), to take only settled files. */
  private dirSeen = new Map<string, { size: number; mtimeMs: number }>();
  private readonly skippedOnce = new Set<string>();

  constructor(options: ImageryIngestOptions) {
    this.o = options;
    this.cfg = options.config.imagery;
    this.now = options.now ?? (() => new Date());
    this.s3 = new S3Client({
      endpoint: this.cfg.s3Endpoint,
      get: options.httpGet ?? safeGet(imageryFetchPolicy(options.config)),
      limits: { timeoutMs: this.cfg.timeoutMs, maxBytes: options.config.assets.fetchMaxBytes },
      userAgent: options.config.http.userAgent,
    });
    this.collectionHref = `${gatewayBase(options.config)}/collections/imagery`;
    this.post = options.post ?? gatewayPoster(options.config, options.apiKey ?? (() => defaultApiKey(options.config)));
    this.singleton = new SingletonLease({
      leases: options.leases,
      key: IMAGERY_LEASE_KEY,
      logger: options.logger,
      name: 'imagery ingest',
      onLead: () => {
        this.stats.leaderships++;
        this.nextPollAt = Date.now();
      },
      onLose: () => {
        this.nextPollAt = null;
      },
    });
  }

  get isLeader(): boolean {
    return this.singleton.isLeader;
  }

  start(): void {
    this.schedule(0);
  }

  health(): Record<string, unknown> {
    return { leader: this.isLeader, nextPollAt: this.isLeader && this.nextPollAt ? new Date(this.nextPollAt).toISOString() : null, pending: this.firstSeen.size, ...this.stats, lastSkips: this.lastSkips.slice(-10) };
  }

  /** Stop polling, wait for a running poll, release the lease (`release: false` leaves it to expire, like a crash). */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.singleton.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking?.catch(() => undefined);
    await this.polling?.catch(() => undefined);
    await this.singleton.release(options);
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        this.schedule(Math.max(100, Math.min(Math.floor(this.o.leases.leaseMs / 3), this.cfg.intervalMs)));
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    if ((await this.singleton.tick()) !== 'leader') return;
    if (this.isLeader && this.polling === null && this.nextPollAt !== null && Date.now() >= this.nextPollAt) {
      this.nextPollAt = Date.now() + this.cfg.intervalMs;
      this.polling = this.poll()
        .catch((err) => this.o.logger.error({ err: errorMessage(err) }, 'imagery poll failed'))
        .finally(() => {
          this.polling = null;
        });
    }
  }

  /**
   * Count, log and remember a skip. Keys that stay malformed are listed again
   * every poll: they are counted and logged once per actor, not each time.
   */
  private skip(kind: string, what: string, reason: string, log = true): void {
    if (ONCE_KINDS.has(kind)) {
      const k = `${kind}\0${what}`;
      if (this.skippedOnce.has(k)) return;
      if (this.skippedOnce.size >= 10_000) this.skippedOnce.clear();
      this.skippedOnce.add(k);
    }
    this.stats.reasons[kind] = (this.stats.reasons[kind] ?? 0) + 1;
    if (kind === 'malformed_key') this.stats.malformedKeys++;
    this.o.metrics?.skipped.inc({ reason: kind });
    this.lastSkips.push({ what, reason });
    if (this.lastSkips.length > 50) this.lastSkips.shift();
    if (log) this.o.logger.warn({ what, reason }, `imagery ingest: skipped (${kind})`);
  }

  private bands(): Set<number> {
    return new Set(this.cfg.bands.map(Number));
  }

  /** One poll of every source (leader only in normal operation; tests call it directly too). */
  async poll(): Promise<void> {
    this.stats.polls++;
    const listErrorsBefore = this.stats.listErrors;
    const candidates: Candidate[] = [];
    // Listing failures come in sets (offline, every prefix fails): one line per poll, not one per prefix.
    const listFailures: Array<{ what: string; reason: string }> = [];
    let listings = 0;
    for (const name of this.cfg.sources) {
      const src = SOURCES[name];
      const products = this.cfg.products.length > 0 ? this.cfg.products.filter((p) => p.startsWith(src.instrument === 'abi' ? 'ABI-' : 'AHI-')) : [...src.products];
      for (const product of products) {
        // The last hour: files that land late in a closed hour (GOES) or slot (Himawari) are still found.
        for (const prefix of prefixesToPoll(src.instrument, product, this.now(), LOOKBACK_MS)) {
          if (this.stopping) return;
          let objects;
          listings++;
          try {
            objects = await this.s3.list(src.bucket, prefix);
          } catch (err) {
            this.stats.listErrors++;
            const what = `${src.bucket}/${prefix}`;
            const reason = errorMessage(err);
            this.skip('list_error', what, reason, false);
            listFailures.push({ what, reason });
            continue;
          }
          this.stats.listed += objects.length;
          this.collect(candidates, src, src.bucket, objects.map((o) => ({ key: o.key, size: o.size, href: this.s3.objectUrl(src.bucket, o.key), path: null })));
        }
      }
    }
    if (listFailures.length > 0) {
      const first = listFailures[0]!;
      this.o.logger.warn(
        { failed: listFailures.length, listings, first: first.what, reason: first.reason },
        `imagery ingest: ${listFailures.length} of ${listings} bucket listings failed this poll (skipped; retried next poll); first: ${first.what}: ${first.reason}`,
      );
    }
    if (this.cfg.dir) await this.collectDir(candidates);
    await this.handle(candidates, this.stats.listErrors === listErrorsBefore);
    this.o.metrics?.polls.inc();
    this.o.metrics?.lastPoll.set(Date.now() / 1000);
  }

  private collect(out: Candidate[], src: SourceSpec, bucket: string | null, objects: Array<{ key: string; size: number; href: string; path: string | null }>): void {
    const bands = this.bands();
    const byId = new Map<string, Candidate>(out.filter((c) => c.source === src).map((c) => [c.itemId, c]));
    for (const o of objects) {
      const parsed: KeyParse = src.instrument === 'abi' ? parseGoesKey(o.key) : parseHimawariKey(o.key);
      if (!parsed.ok) {
        this.skip('malformed_key', o.key, parsed.reason);
        continue;
      }
      const k = parsed.value;
      if (!bands.has(k.band)) continue;
      if (k.kind === 'goes' && k.platform !== src.platform) continue;
      if (k.kind === 'himawari' && k.platform !== src.platform) continue;
      let c = byId.get(k.itemId);
      if (!c) {
        c = { source: src, itemId: k.itemId, bucket, objects: [] };
        byId.set(k.itemId, c);
        out.push(c);
      }
      // A reprocessed GOES file (same scene, later creation time) replaces the older one.
      if (k.kind === 'goes') {
        const prev = c.objects[0]?.key as GoesKey | undefined;
        if (!prev || k.created > prev.created) c.objects = [{ key: k, size: o.size, href: o.href, path: o.path }];
      } else if (!c.objects.some((x) => (x.key as HimawariKey).segment === k.segment)) {
        c.objects.push({ key: k, size: o.size, href: o.href, path: o.path });
      }
    }
  }

  /** Files under the local directory: either naming pattern, any depth; hrefs are file:// URLs. */
  private async collectDir(out: Candidate[]): Promise<void> {
    const root = resolve(this.cfg.dir);
    const files: Array<{ path: string; size: number }> = [];
    const seen = new Map<string, { size: number; mtimeMs: number }>();
    const walk = async (dir: string, depth: number): Promise<void> => {
      if (depth > 8) return;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        this.skip('dir_error', dir, errorMessage(err));
        return;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p, depth + 1);
        else if (e.isFile()) {
          const st = await stat(p).catch(() => null);
          if (!st) continue;
          // A file still being copied in would read as truncated and be rejected for good: take a file
          // only once a poll finds it with the size and mtime the previous poll saw.
          const prev = this.dirSeen.get(p);
          seen.set(p, { size: st.size, mtimeMs: st.mtimeMs });
          if (prev && prev.size === st.size && prev.mtimeMs === st.mtimeMs) files.push({ path: p, size: st.size });
        }
      }
    };
    await walk(root, 0);
    this.dirSeen = seen;
    const abi: typeof files = [], ahi: typeof files = [];
    for (const f of files) {
      const name = f.path.slice(f.path.lastIndexOf(sep) + 1);
      if (name.startsWith('OR_ABI-')) abi.push(f);
      else if (name.startsWith('HS_')) ahi.push(f);
      else if (!name.startsWith('.')) {
        this.skip('malformed_key', relative(root, f.path), 'neither an ABI L1b (OR_ABI-…) nor an AHI HSD (HS_…) file name');
      }
    }
    // The platform decides the source: route each file to its source spec.
    for (const [list, instrument] of [[abi, 'abi'], [ahi, 'ahi']] as const) {
      for (const src of Object.values(SOURCES).filter((s) => s.instrument === instrument)) {
        const mine = list.filter((f) => {
          const p = instrument === 'abi' ? parseGoesKey(f.path) : parseHimawariKey(f.path);
          return p.ok && p.value.platform === src.platform;
        });
        this.collect(out, src, null, mine.map((f) => ({ key: f.path, size: f.size, href: pathToFileURL(f.path).href, path: f.path })));
      }
      // Names that parse for no known source are still counted.
      for (const f of list) {
        const p = instrument === 'abi' ? parseGoesKey(f.path) : parseHimawariKey(f.path);
        if (!p.ok) {
          this.skip('malformed_key', relative(root, f.path), p.reason);
        } else if (!Object.values(SOURCES).some((s) => s.platform === p.value.platform)) {
          this.skip('unknown_platform', relative(root, f.path), `no configured source for ${p.value.platform}`);
        }
      }
    }
  }

  private async handle(candidates: Candidate[], complete: boolean): Promise<void> {
    const done = await handledIds(this.o.db, candidates.map((c) => c.itemId));
    const nowMs = Date.now();
    for (const c of candidates) {
      // A leader whose lease lapsed mid-poll stops registering (the next leader repeats nothing: POSTs are idempotent).
      if (this.stopping || (this.singleton.lease !== null && !this.singleton.lease.isValid())) return;
      if (done.has(c.itemId)) {
        this.firstSeen.delete(c.itemId);
        continue;
      }
      if (c.source.instrument === 'ahi') {
        const total = (c.objects[0]!.key as HimawariKey).segments;
        const seen = this.firstSeen.get(c.itemId) ?? nowMs;
        this.firstSeen.set(c.itemId, seen);
        if (c.objects.length < total && nowMs - seen < this.cfg.segmentTimeoutMs) continue;
      }
      await this.register(c);
    }
    // Scenes no longer listed (out of the lookback window) stop waiting for segments; after a
    // failed listing they may merely be unseen, so they keep their first-seen time.
    if (complete) {
      const listed = new Set(candidates.map((c) => c.itemId));
      for (const id of this.firstSeen.keys()) if (!listed.has(id)) this.firstSeen.delete(id);
    }
  }

  private async readAt(c: Candidate, obj: Candidate['objects'][number], start: number, length: number): Promise<Uint8Array> {
    if (obj.path) {
      const fh = await open(obj.path, 'r');
      try {
        const buf = new Uint8Array(Math.max(0, Math.min(length, obj.size - start)));
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, start);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    }
    return this.s3.readRange(c.bucket!, obj.key.key, start, length);
  }

  /**
   * Header bytes: the first `headerBytes` (and, with `tail`, as many from the
   * end), doubled while the header runs past them (up to 16×), or the whole
   * object once they would meet.
   */
  private async withHeader<T>(c: Candidate, obj: Candidate['objects'][number], tail: boolean, parse: (head: Uint8Array, whole: boolean, tail: Uint8Array | undefined) => Promise<T> | T): Promise<T> {
    let length = this.cfg.headerBytes;
    for (;;) {
      const wantWhole = length * (tail ? 2 : 1) >= obj.size;
      const head = await this.readAt(c, obj, 0, wantWhole ? obj.size : length);
      if (head.byteLength < (wantWhole ? obj.size : length)) throw new ImageryFormatError(`object shorter than listed: ${head.byteLength} of ${obj.size} bytes`);
      const whole = wantWhole;
      const end = tail && !whole ? await this.readAt(c, obj, obj.size - length, length) : undefined;
      if (end && end.byteLength !== length) throw new ImageryFormatError(`object shorter than listed: tail of ${end.byteLength} bytes`);
      try {
        return await parse(head, whole, end);
      } catch (err) {
        if (!(err instanceof HeaderIncompleteError) || whole || length >= this.cfg.headerBytes * 16) {
          if (err instanceof HeaderIncompleteError) throw new ImageryFormatError(`header not within the first${tail ? ' and last' : ''} ${length} bytes: ${err.message}`);
          throw err;
        }
        length *= 2;
      }
    }
  }

  private async register(c: Candidate): Promise<void> {
    let item: StacItem;
    try {
      if (c.source.instrument === 'abi') {
        const obj = c.objects[0]!;
        const header = await this.withHeader(c, obj, true, (head, _whole, end) => readAbiHeader(head, obj.size, end));
        item = goesItem(c.source, obj.key as GoesKey, header, { href: obj.href, size: obj.size }, this.collectionHref);
      } else {
        const sorted = [...c.objects].sort((a, b) => (a.key as HimawariKey).segment - (b.key as HimawariKey).segment);
        const first = sorted[0]!;
        const check = (h: AhiHeader, o: Candidate['objects'][number]): AhiHeader => {
          const hk = o.key as HimawariKey;
          if (h.segment !== hk.segment || h.totalSegments !== hk.segments || h.band !== hk.band) {
            throw new ImageryFormatError(`${hk.file}: name says band ${hk.band} segment ${hk.segment}/${hk.segments}, header band ${h.band} segment ${h.segment}/${h.totalSegments}`);
          }
          return h;
        };
        const header = check(await this.withHeader(c, first, false, (bytes, whole) => readAhiHeader(bytes, whole)), first);
        // The scan runs north to south over the segments: the scene ends when the last present one does.
        const last = sorted[sorted.length - 1]!;
        const lastHeader = last === first ? header : check(await this.withHeader(c, last, false, (bytes, whole) => readAhiHeader(bytes, whole)), last);
        const refs: HimawariSegmentRef[] = sorted.map((o) => ({ key: o.key as HimawariKey, href: o.href, size: o.size }));
        item = himawariItem(c.source, refs, header, header.segment, this.collectionHref, lastHeader.end);
      }
    } catch (err) {
      if (err instanceof ImageryFormatError) {
        this.stats.rejected++;
        this.o.metrics?.scenes.inc({ source: c.source.name, outcome: 'rejected' });
        this.skip('bad_file', c.itemId, err.message);
        await this.record(c, 'rejected', err.message, null, null);
        return;
      }
      // Network and server trouble: try again next poll.
      this.stats.retries++;
      this.o.metrics?.scenes.inc({ source: c.source.name, outcome: 'retry' });
      this.skip('read_error', c.itemId, errorMessage(err));
      return;
    }
    const r = await this.post(item);
    this.o.metrics?.scenes.inc({ source: c.source.name, outcome: r.outcome });
    if (r.outcome === 'retry') {
      this.stats.retries++;
      this.skip('gateway_retry', c.itemId, r.reason);
      return;
    }
    if (r.outcome === 'rejected') {
      this.stats.rejected++;
      this.skip('gateway_rejected', c.itemId, r.reason);
    } else {
      this.stats.registered++;
      this.firstSeen.delete(c.itemId);
      this.o.logger.info({ itemId: c.itemId, taskId: r.taskId, objects: c.objects.length }, 'imagery ingest: registered');
    }
    await this.record(c, r.outcome, r.reason, r.status, r.taskId);
  }

  private async record(c: Candidate, outcome: 'registered' | 'rejected', reason: string, status: number | null, taskId: string | null): Promise<void> {
    this.firstSeen.delete(c.itemId);
    try {
      await recordIngested(this.o.db, { itemId: c.itemId, source: c.source.name, outcome, reason, httpStatus: status, taskId, objects: c.objects.map((o) => o.href) });
    } catch (err) {
      this.o.logger.error({ err: errorMessage(err), itemId: c.itemId }, 'imagery ingest: cannot record outcome');
    }
  }
}
