/**
 * CelesTrak GP API client (gp.php) and the `catalog load` source reader.
 *
 * CelesTrak's rules (celestrak.org/NORAD/documentation/gp-data-formats.php and
 * its usage policy) shape this module: one request per call, never a retry
 * here (the caller stops its cycle on anything but 200; CelesTrak firewalls
 * clients that hammer it), and a 403 answer means "this data has not changed
 * since your last download", not an error. Every request has a whole-request
 * timeout and a body size cap, so a slow or endless answer fails cleanly.
 */
import { readFile, stat } from 'node:fs/promises';
import type { CatalogFormat } from './catalog-parse.js';

export type GpFormat = 'json' | 'tle' | '3le';

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
  userAgent: string;
  /** Aborts the request early (the actor stopping). */
  signal?: AbortSignal;
}

export type FetchOutcome =
  | { kind: 'ok'; status: 200; text: string; bytes: number; url: string }
  /** CelesTrak's 403: unchanged since the last download. */
  | { kind: 'not_modified'; status: 403; url: string }
  | { kind: 'http_error'; status: number; url: string; reason: string }
  /** No usable answer: network error, timeout, body too large, not text. */
  | { kind: 'failed'; status: number | null; url: string; reason: string };

/** gp.php?GROUP=<group>&FORMAT=<format> on the configured endpoint (which may carry its own query). */
export function gpUrl(endpoint: string, group: string, format: GpFormat): string {
  const u = new URL(endpoint);
  u.searchParams.set('GROUP', group);
  u.searchParams.set('FORMAT', format);
  return u.toString();
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  if (e?.name === 'AbortError') return 'aborted (stopping, or timed out)';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`;
}

/** Reads at most maxBytes of a body; more is a failure, not a truncation (a cut catalog would look valid). */
async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<{ ok: true; buf: Buffer } | { ok: false; reason: string }> {
  if (!body) return { ok: true, buf: Buffer.alloc(0) };
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return { ok: false, reason: `body larger than the ${maxBytes}-byte cap` };
    }
    chunks.push(value);
  }
  return { ok: true, buf: Buffer.concat(chunks, n) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One GET, no retry, no redirect loop surprises (fetch follows up to 20). */
export async function httpGetText(url: string, limits: FetchLimits): Promise<FetchOutcome> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([timeout, limits.signal]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { 'user-agent': limits.userAgent, accept: 'application/json, text/plain, text/csv, */*' } });
  } catch (err) {
    return { kind: 'failed', status: null, url, reason: describe(err) };
  }
  if (res.status === 403) {
    await res.body?.cancel().catch(() => undefined);
    return { kind: 'not_modified', status: 403, url };
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    return { kind: 'http_error', status: res.status, url, reason: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` };
  }
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    return { kind: 'failed', status: 200, url, reason: `content-length ${declared} over the ${limits.maxBytes}-byte cap` };
  }
  let read;
  try {
    read = await readCapped(res.body, limits.maxBytes);
  } catch (err) {
    return { kind: 'failed', status: 200, url, reason: `body: ${describe(err)}` };
  }
  if (!read.ok) return { kind: 'failed', status: 200, url, reason: read.reason };
  let text: string;
  try {
    text = utf8.decode(read.buf);
  } catch {
    return { kind: 'failed', status: 200, url, reason: 'body is not UTF-8 text' };
  }
  return { kind: 'ok', status: 200, text, bytes: read.buf.byteLength, url };
}

export function fetchGp(endpoint: string, group: string, format: GpFormat, limits: FetchLimits): Promise<FetchOutcome> {
  return httpGetText(gpUrl(endpoint, group, format), limits);
}

/**
 * What `catalog load` reads: an http(s) URL (one GET, same limits) or a file.
 * The caller picks the format (--format) or sniffs it.
 */
export async function readCatalogSource(source: string, limits: FetchLimits): Promise<FetchOutcome> {
  if (/^https?:\/\//i.test(source)) return httpGetText(source, limits);
  const path = source.startsWith('file://') ? new URL(source) : source;
  try {
    const st = await stat(path);
    if (!st.isFile()) return { kind: 'failed', status: null, url: source, reason: 'not a regular file' };
    if (st.size > limits.maxBytes) return { kind: 'failed', status: null, url: source, reason: `file is ${st.size} bytes, over the ${limits.maxBytes}-byte cap` };
    const buf = await readFile(path);
    return { kind: 'ok', status: 200, text: utf8.decode(buf), bytes: buf.byteLength, url: source };
  } catch (err) {
    return { kind: 'failed', status: null, url: source, reason: err instanceof TypeError ? 'file is not UTF-8 text' : describe(err) };
  }
}

export type { CatalogFormat };
