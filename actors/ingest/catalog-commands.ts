/**
 * `starweather catalog load` and `starweather catalog refresh`: the same
 * validation and write path as the ingest actor, run from the command line.
 * A load needs no cluster (it opens storage from config and tells the
 * trackers over NATS when NATS_URL is set); a refresh asks the cluster's
 * ingest leader over NATS, or runs one cycle in-process on the embedded
 * database when there is no NATS.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../../config/load.js';
import { StarWeatherError, errorMessage } from '../../protocol/errors.js';
import { CatalogRefreshMessage, CatalogRefreshReplyMessage, type IngestRunSummary } from '../../protocol/messages/catalog.js';
import { names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import { createLogger } from '../runtime/log.js';
import { createTransport } from '../runtime/transport/index.js';
import { openStorage, type Storage } from '../storage/index.js';
import { SNAPSHOT_PATH } from '../tracker/snapshot.js';
import { runCatalogCycle } from './catalog-actor.js';
import { readCatalogSource } from './catalog-fetch.js';
import { ingestCatalogText, summary, type IngestDeps, type IngestReport, type LoadProgress } from './catalog-ingest.js';
import { CATALOG_FORMATS, sniffFormat, type CatalogFormat } from './catalog-parse.js';
import type { RejectSample } from '../storage/ingest-runs.js';

export interface CommandOutput {
  /** Process exit code: 0 loaded (or nothing to do), 1 failed. */
  code: number;
  text: string;
}

function line(r: IngestRunSummary & { rejectedByCode?: Record<string, number> }): string {
  const codes = r.rejectedByCode && Object.keys(r.rejectedByCode).length ? ` (${Object.entries(r.rejectedByCode).map(([c, n]) => `${c}=${n}`).join(' ')})` : '';
  return `${r.group}: ${r.outcome}${r.httpStatus !== null ? ` [HTTP ${r.httpStatus}]` : ''}: ${r.records} records, ${r.accepted} accepted, ${r.rejected} rejected${codes}, ${r.objectsNew} new, ${r.objectsChanged} changed${r.message ? ` — ${r.message}` : ''}`;
}

/** One load as the CLI prints it: the summary line, then the rejection samples. */
export function reportText(r: IngestRunSummary & { rejectedByCode: Record<string, number>; rejectSamples: readonly RejectSample[] }): string {
  return line(r) + (r.rejectSamples.length ? '\n' + r.rejectSamples.map((s) => `  ${s.code} line ${s.line}${s.noradId ? ` #${s.noradId}` : ''}: ${s.reason}`).join('\n') : '');
}

function render(reports: IngestReport[], json: boolean): string {
  if (json) return JSON.stringify(reports, null, 2);
  return reports.map((r) => reportText({ ...summary(r), rejectedByCode: r.rejectedByCode, rejectSamples: r.rejectSamples })).join('\n');
}

const loadedOk = (r: { outcome: string }): boolean => r.outcome === 'ok' || r.outcome === 'not_modified' || r.outcome === 'skipped';

async function withStorage<T>(cfg: Config, fn: (s: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(cfg);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

async function maybeTransport(cfg: Config): Promise<Transport | null> {
  // Without NATS there is nobody outside this process to tell: trackers of an
  // embedded node reload at their periodic reconcile.
  return cfg.nats.url ? createTransport(cfg, { name: 'starweather catalog', provision: false }) : null;
}

export async function catalogLoad(cfg: Config, source: string, options: { format?: string; group?: string; json?: boolean; onProgress?: (p: LoadProgress) => void }): Promise<CommandOutput> {
  if (options.format !== undefined && !CATALOG_FORMATS.includes(options.format as CatalogFormat)) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `--format must be one of ${CATALOG_FORMATS.join(', ')} (got ${JSON.stringify(options.format)})`);
  }
  if (options.group !== undefined && !/^[A-Za-z0-9_-]{1,100}$/.test(options.group)) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `--group must be 1..100 letters, digits, _ or - (got ${JSON.stringify(options.group)})`);
  }
  const startedAt = new Date();
  const read = await readCatalogSource(source, { timeoutMs: cfg.catalog.timeoutMs, maxBytes: cfg.catalog.maxBytes, userAgent: cfg.http.userAgent });
  if (read.kind !== 'ok') {
    const why = read.kind === 'not_modified' ? 'HTTP 403 (CelesTrak: not modified since your last download)' : read.reason;
    return { code: 1, text: `cannot read ${source}: ${why}` };
  }
  const format = (options.format as CatalogFormat | undefined) ?? sniffFormat(read.text, source);
  const transport = await maybeTransport(cfg);
  try {
    const report = await withStorage(cfg, (storage) => {
      const deps: IngestDeps = { db: storage.db, transport, names: names(cfg.namespace), logger: createLogger({ nodeId: cfg.nodeId, level: cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, destination: 2, format: cfg.logFormat }), hostId: `cli-${cfg.nodeId}`, ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
      return ingestCatalogText(deps, { text: read.text, format, source, group: options.group ?? null, full: false, httpStatus: /^https?:/i.test(source) ? 200 : null, bytes: read.bytes, startedAt });
    });
    return { code: report.outcome === 'ok' ? 0 : 1, text: render([report], options.json ?? false) };
  } finally {
    await transport?.close().catch(() => undefined);
  }
}

export async function catalogRefresh(cfg: Config, options: { waitMs?: number; json?: boolean }): Promise<CommandOutput> {
  if (!cfg.nats.url) {
    // Single machine: no leader to ask; the embedded database's lock keeps a running node and this command apart.
    const reports = await withStorage(cfg, (storage) => {
      const deps = (): IngestDeps => ({ db: storage.db, logger: createLogger({ nodeId: cfg.nodeId, level: 'warn', destination: 2, format: cfg.logFormat }), hostId: `cli-${cfg.nodeId}` });
      return runCatalogCycle({ config: cfg, deps, groups: cfg.catalog.groups, stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
    });
    return { code: reports.every(loadedOk) ? 0 : 1, text: render(reports, options.json ?? false) || 'no group configured' };
  }
  const n = names(cfg.namespace);
  const transport = await createTransport(cfg, { name: 'starweather catalog refresh', provision: false });
  try {
    const requestId = randomBytes(8).toString('hex');
    const waitMs = options.waitMs ?? cfg.catalog.timeoutMs * cfg.catalog.groups.length + 60_000;
    const answer = new Promise<{ hostId: string; runs: IngestRunSummary[] } | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), waitMs);
      const sub = transport.subscribe(n.subjects.catalogRefreshReply(requestId), (msg) => {
        try {
          const reply = CatalogRefreshReplyMessage.decode(msg.data);
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(reply);
        } catch {
          // Not a reply we can read: keep waiting for the leader's.
        }
      });
    });
    await transport.flush();
    transport.publish(n.subjects.catalogRefresh, CatalogRefreshMessage.encode({ v: 1, requestId, at: Date.now() }));
    await transport.flush();
    const reply = await answer;
    if (!reply) return { code: 1, text: `no catalog ingest leader answered within ${waitMs} ms (is a node with the ingest role running in namespace ${cfg.namespace}?)` };
    const text = options.json ? JSON.stringify(reply, null, 2) : [`refreshed by ${reply.hostId}`, ...reply.runs.map((r) => line(r))].join('\n');
    return { code: reply.runs.every(loadedOk) ? 0 : 1, text };
  } catch (err) {
    return { code: 1, text: `refresh failed: ${errorMessage(err)}` };
  } finally {
    await transport.close().catch(() => undefined);
  }
}
