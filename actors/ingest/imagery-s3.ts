/**
 * Anonymous S3 reads: ListObjectsV2 (XML, continuation-token paging) and
 * ranged GETs. Addressing: path style by default (`{endpoint}/{bucket}/{key}`,
 * which the default https://s3.amazonaws.com serves for the NOAA buckets and
 * every S3-compatible server does); an endpoint containing `{bucket}` is
 * virtual-hosted (`https://{bucket}.s3.amazonaws.com`).
 * Every request has a timeout and a body-size cap.
 */
import { StarWeatherError } from '../../protocol/errors.js';

export interface HttpLimits {
  timeoutMs: number;
  maxBytes: number;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** How requests go out (the SSRF-guarded fetcher where the gateway provides one). */
export type HttpGet = (url: string, headers: Record<string, string>, limits: HttpLimits) => Promise<HttpAnswer>;

export class S3Error extends StarWeatherError {
  constructor(message: string, readonly status: number | null = null) {
    super('SW_ERR_TRANSPORT', message);
    this.name = 'S3Error';
  }
}

/** Plain fetch with a whole-request timeout and a streamed byte cap (the body past the cap is not read). */
export const plainGet: HttpGet = async (url, headers, limits) => {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { headers, signal, redirect: 'error' });
  } catch (err) {
    throw new S3Error(`GET ${url} failed: ${(err as Error).message}`);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = res.body?.getReader();
  try {
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = limits.maxBytes - n;
      if (value.byteLength >= room) {
        chunks.push(value.subarray(0, room));
        n += room;
        await reader.cancel().catch(() => undefined);
        break;
      }
      chunks.push(value);
      n += value.byteLength;
    }
  } catch (err) {
    throw new S3Error(`GET ${url}: body read failed: ${(err as Error).message}`);
  }
  const body = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    body.set(c, o);
    o += c.byteLength;
  }
  return { status: res.status, headers: res.headers, body };
};

export interface S3Object {
  key: string;
  size: number;
  lastModified: string | null;
  etag: string | null;
}

export interface ListPage {
  objects: S3Object[];
  commonPrefixes: string[];
  nextToken: string | null;
}

export function objectUrl(endpoint: string, bucket: string, key: string): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  if (endpoint.includes('{bucket}')) return `${endpoint.replace('{bucket}', bucket).replace(/\/+$/, '')}/${path}`;
  return `${endpoint.replace(/\/+$/, '')}/${bucket}/${path}`;
}

function bucketUrl(endpoint: string, bucket: string): string {
  if (endpoint.includes('{bucket}')) return `${endpoint.replace('{bucket}', bucket).replace(/\/+$/, '')}/`;
  // Trailing slash: the bucket is a path prefix (/bucket/), as allow lists of path-style buckets expect.
  return `${endpoint.replace(/\/+$/, '')}/${bucket}/`;
}

function unxml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
      default: return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

function tag(xml: string, name: string): string | null {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? unxml(m[1]!) : null;
}

/** Parse a ListBucketResult document; anything else is an S3Error naming what came back. */
export function parseListXml(xml: string): ListPage {
  if (!/<ListBucketResult[\s>]/.test(xml)) {
    const code = tag(xml, 'Code');
    throw new S3Error(code ? `S3 error ${code}: ${tag(xml, 'Message') ?? ''}` : 'not a ListBucketResult document');
  }
  const objects: S3Object[] = [];
  for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const c = m[1]!;
    const key = tag(c, 'Key');
    const size = Number(tag(c, 'Size'));
    if (key === null || !Number.isFinite(size) || size < 0) continue;
    objects.push({ key, size, lastModified: tag(c, 'LastModified'), etag: tag(c, 'ETag') });
  }
  const commonPrefixes = [...xml.matchAll(/<CommonPrefixes>([\s\S]*?)<\/CommonPrefixes>/g)].map((m) => tag(m[1]!, 'Prefix') ?? '').filter(Boolean);
  const truncated = tag(xml, 'IsTruncated') === 'true';
  const nextToken = truncated ? tag(xml, 'NextContinuationToken') : null;
  if (truncated && !nextToken) throw new S3Error('truncated listing without NextContinuationToken');
  return { objects, commonPrefixes, nextToken };
}

export interface S3ClientOptions {
  endpoint: string;
  get?: HttpGet;
  limits?: Partial<HttpLimits>;
  userAgent?: string;
  /** Page size asked for (max-keys); S3 caps it at 1000. */
  maxKeys?: number;
  /** Pages one listing may walk before it stops (a runaway paging guard). */
  maxPages?: number;
}

export class S3Client {
  readonly endpoint: string;
  private readonly get: HttpGet;
  private readonly limits: HttpLimits;
  private readonly headers: Record<string, string>;
  private readonly maxKeys: number;
  private readonly maxPages: number;
  /** Requests made (for reports and tests). */
  requests = 0;

  constructor(o: S3ClientOptions) {
    this.endpoint = o.endpoint;
    this.get = o.get ?? plainGet;
    this.limits = { timeoutMs: o.limits?.timeoutMs ?? 30_000, maxBytes: o.limits?.maxBytes ?? 16 * 1024 * 1024 };
    this.headers = o.userAgent ? { 'user-agent': o.userAgent } : {};
    this.maxKeys = o.maxKeys ?? 1000;
    this.maxPages = o.maxPages ?? 100;
  }

  objectUrl(bucket: string, key: string): string {
    return objectUrl(this.endpoint, bucket, key);
  }

  async listPage(bucket: string, prefix: string, token: string | null): Promise<ListPage> {
    const q = new URLSearchParams({ 'list-type': '2', prefix, 'max-keys': String(this.maxKeys) });
    if (token) q.set('continuation-token', token);
    const url = `${bucketUrl(this.endpoint, bucket)}?${q.toString()}`;
    this.requests++;
    const res = await this.get(url, this.headers, this.limits);
    const text = new TextDecoder().decode(res.body);
    if (res.status !== 200) throw new S3Error(`ListObjectsV2 ${bucket}/${prefix}: HTTP ${res.status} ${tag(text, 'Code') ?? ''}`.trim(), res.status);
    return parseListXml(text);
  }

  /** Every object under `prefix`, following continuation tokens. */
  async list(bucket: string, prefix: string): Promise<S3Object[]> {
    const out: S3Object[] = [];
    let token: string | null = null;
    for (let page = 0; page < this.maxPages; page++) {
      const p: ListPage = await this.listPage(bucket, prefix, token);
      out.push(...p.objects);
      if (!p.nextToken) return out;
      if (p.nextToken === token) throw new S3Error('ListObjectsV2 returned the same continuation token twice');
      token = p.nextToken;
    }
    throw new S3Error(`ListObjectsV2 ${bucket}/${prefix}: more than ${this.maxPages} pages`);
  }

  /** The first `length` bytes of an object (Range request; a server that ignores Range is cut at the cap). */
  async readPrefix(bucket: string, key: string, length: number): Promise<Uint8Array> {
    return this.readRange(bucket, key, 0, length);
  }

  /** Bytes [start, start + length) of an object (a 200 to a ranged GET is accepted only for start 0). */
  async readRange(bucket: string, key: string, start: number, length: number): Promise<Uint8Array> {
    const url = this.objectUrl(bucket, key);
    this.requests++;
    const res = await this.get(url, { ...this.headers, range: `bytes=${start}-${start + length - 1}` }, { ...this.limits, maxBytes: length });
    if (res.status === 206 || (res.status === 200 && start === 0)) return res.body;
    throw new S3Error(`GET ${bucket}/${key} bytes ${start}+${length}: HTTP ${res.status}`, res.status);
  }
}
