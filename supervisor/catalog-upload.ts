/**
 * `starweather catalog load` beside a running embedded node: the node's
 * database is locked by that node, so the file goes to it over HTTP
 * (POST /catalog/loads, actors/gateway/catalog-loads.ts) and this command
 * follows the load's status until it ends, printing progress.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { errorMessage } from '../protocol/errors.js';
import { readCatalogSource } from '../actors/ingest/catalog-fetch.js';
import { reportText, type CommandOutput } from '../actors/ingest/catalog-commands.js';
import type { LoadProgress } from '../actors/ingest/catalog-ingest.js';
import { API_KEY_FILE } from '../actors/gateway/auth.js';
import type { CatalogLoadView } from '../actors/gateway/catalog-loads.js';

/** Status polls of a running load. */
const POLL_MS = 500;

/** Whether a node answers HTTP at `base` (any status: something listens and speaks HTTP). */
export async function nodeAnswers(base: string, timeoutMs = 5_000): Promise<boolean> {
  try {
    const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** The write key: STARWEATHER_API_KEY, else the key the node generated into its data dir. */
export async function apiKeyOf(cfg: Config): Promise<string | null> {
  if (cfg.gateway.apiKey) return cfg.gateway.apiKey;
  return (await readFile(join(cfg.dataDir, API_KEY_FILE), 'utf8').catch(() => '')).trim() || null;
}

function problemText(status: number, text: string): string {
  try {
    const b = JSON.parse(text) as { code?: string; detail?: string; title?: string };
    return `${status} ${b.code ?? ''}: ${b.detail ?? b.title ?? ''}`;
  } catch {
    return `${status}: ${text.slice(0, 200)}`;
  }
}

export async function catalogLoadThroughNode(
  cfg: Config,
  base: string,
  source: string,
  options: { format?: string; group?: string; json?: boolean; onProgress?: (p: LoadProgress) => void },
): Promise<CommandOutput> {
  const key = await apiKeyOf(cfg);
  if (!key) return { code: 2, text: `a node runs at ${base}, but no API key to send it the catalog: set STARWEATHER_API_KEY (or run where ${join(cfg.dataDir, API_KEY_FILE)} holds its key)` };
  const read = await readCatalogSource(source, { timeoutMs: cfg.catalog.timeoutMs, maxBytes: cfg.catalog.maxBytes, userAgent: cfg.http.userAgent });
  if (read.kind !== 'ok') return { code: 1, text: `cannot read ${source}: ${read.kind === 'not_modified' ? 'HTTP 403 (CelesTrak: not modified since your last download)' : read.reason}` };
  const q = new URLSearchParams({ source: (source.split(/[\\/]/).pop() || 'upload').slice(0, 200) });
  if (options.format) q.set('format', options.format);
  if (options.group) q.set('group', options.group);
  let res: Response;
  try {
    res = await fetch(`${base}/catalog/loads?${q}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/plain; charset=utf-8' },
      body: read.text,
      signal: AbortSignal.timeout(cfg.catalog.timeoutMs),
    });
  } catch (err) {
    return { code: 1, text: `cannot send the catalog to the node at ${base}: ${errorMessage(err)}` };
  }
  const sent = await res.text();
  if (res.status !== 202) return { code: res.status === 401 ? 2 : 1, text: `the node at ${base} refused the load: ${problemText(res.status, sent)}` };
  const accepted = JSON.parse(sent) as CatalogLoadView;
  const location = res.headers.get('location') ?? `/catalog/loads/${accepted.id}`;
  options.onProgress?.(accepted.progress);
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    let view: CatalogLoadView;
    try {
      const r = await fetch(`${base}${location}`, { signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 200) return { code: 1, text: `lost track of the load at ${base}${location}: ${problemText(r.status, text)}` };
      view = JSON.parse(text) as CatalogLoadView;
    } catch (err) {
      // A busy node may answer late: keep asking; the load goes on without us.
      if (/abort|timeout/i.test(errorMessage(err))) continue;
      return { code: 1, text: `lost the node at ${base} while it loaded (${errorMessage(err)}); the load's outcome is in /ingest/status` };
    }
    if (view.state === 'running') {
      options.onProgress?.(view.progress);
      continue;
    }
    if (!view.report) return { code: 1, text: `load ${view.id} ${view.state} on the node without a report (see its log)` };
    const text = options.json ? JSON.stringify(view, null, 2) : `loaded through the node at ${base}\n${reportText(view.report)}`;
    return { code: view.state === 'done' ? 0 : 1, text };
  }
}
