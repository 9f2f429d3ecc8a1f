/**
 * A local S3-compatible server on 127.0.0.1 serving a folder: the first path
 * segment is the bucket (a sub-folder), the rest the key (path style).
 * ListObjectsV2 (list-type=2) with prefix, delimiter, max-keys and
 * continuation-token paging; GET with a single `Range: bytes=a-b` → 206;
 * HEAD. XML as S3 writes it. Counts requests, so tests can see paging.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface S3TestServer {
  url: string;
  /** Requests seen, by kind. */
  stats: { list: number; get: number; head: number; ranged: number };
  close(): Promise<void>;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

async function walk(dir: string, root: string, out: Array<{ key: string; size: number; mtime: Date }>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, root, out);
    else if (e.isFile()) {
      const s = await stat(p);
      out.push({ key: relative(root, p).split(sep).join('/'), size: s.size, mtime: s.mtime });
    }
  }
}

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${esc(message)}</Message></Error>`);
}

/** pageSize: the most keys one page holds whatever max-keys asks (S3 itself caps at 1000), to exercise paging. */
export async function startS3Server(root: string, options: { pageSize?: number } = {}): Promise<S3TestServer> {
  const stats = { list: 0, get: 0, head: 0, ranged: 0 };
  const base = resolve(root);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const bucket = parts[0];
    if (!bucket || bucket.includes('..')) return xmlError(res, 400, 'InvalidBucketName', 'no bucket');
    const bucketDir = join(base, bucket);
    if (parts.length === 1) {
      if (req.method !== 'GET' || u.searchParams.get('list-type') !== '2') return xmlError(res, 400, 'InvalidRequest', 'only ListObjectsV2');
      stats.list++;
      const prefix = u.searchParams.get('prefix') ?? '';
      const delimiter = u.searchParams.get('delimiter') ?? '';
      const maxKeys = Math.min(options.pageSize ?? 1000, Math.max(1, Number(u.searchParams.get('max-keys') ?? 1000) || 1000));
      const token = u.searchParams.get('continuation-token');
      const all: Array<{ key: string; size: number; mtime: Date }> = [];
      await walk(bucketDir, bucketDir, all);
      const matching = all.filter((o) => o.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      // Entries: objects, or common prefixes when a delimiter follows the prefix.
      const entries: Array<{ kind: 'object'; o: (typeof all)[number] } | { kind: 'prefix'; p: string }> = [];
      const seen = new Set<string>();
      for (const o of matching) {
        const rest = o.key.slice(prefix.length);
        const cut = delimiter ? rest.indexOf(delimiter) : -1;
        if (cut >= 0) {
          const p = prefix + rest.slice(0, cut + delimiter.length);
          if (!seen.has(p)) {
            seen.add(p);
            entries.push({ kind: 'prefix', p });
          }
        } else entries.push({ kind: 'object', o });
      }
      const startAfter = token ? Buffer.from(token, 'base64url').toString('utf8') : null;
      const name = (e: (typeof entries)[number]): string => (e.kind === 'object' ? e.o.key : e.p);
      const from = startAfter === null ? 0 : entries.findIndex((e) => name(e) > startAfter);
      const page = from < 0 ? [] : entries.slice(from, from + maxKeys);
      const truncated = from >= 0 && from + maxKeys < entries.length;
      const next = truncated ? Buffer.from(name(page[page.length - 1]!), 'utf8').toString('base64url') : null;
      let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>`;
      if (delimiter) xml += `<Delimiter>${esc(delimiter)}</Delimiter>`;
      xml += `<IsTruncated>${truncated}</IsTruncated>`;
      if (token) xml += `<ContinuationToken>${esc(token)}</ContinuationToken>`;
      if (next) xml += `<NextContinuationToken>${esc(next)}</NextContinuationToken>`;
      for (const e of page) {
        if (e.kind === 'object') xml += `<Contents><Key>${esc(e.o.key)}</Key><LastModified>${e.o.mtime.toISOString()}</LastModified><ETag>&quot;${e.o.size.toString(16)}&quot;</ETag><Size>${e.o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        else xml += `<CommonPrefixes><Prefix>${esc(e.p)}</Prefix></CommonPrefixes>`;
      }
      xml += '</ListBucketResult>';
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(xml);
      return;
    }
    const key = parts.slice(1).join('/');
    const file = resolve(bucketDir, key);
    if (!file.startsWith(bucketDir + sep)) return xmlError(res, 400, 'InvalidKey', 'key escapes the bucket');
    let s;
    try {
      s = await stat(file);
    } catch {
      return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    if (!s.isFile()) return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    const common = { 'accept-ranges': 'bytes', 'last-modified': s.mtime.toUTCString(), etag: `"${s.size.toString(16)}"`, 'content-type': 'application/octet-stream' };
    if (req.method === 'HEAD') {
      stats.head++;
      res.writeHead(200, { ...common, 'content-length': String(s.size) });
      res.end();
      return;
    }
    if (req.method !== 'GET') return xmlError(res, 405, 'MethodNotAllowed', 'GET or HEAD');
    stats.get++;
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && s.size > 0) {
      stats.ranged++;
      let start = range[1] ? Number(range[1]) : s.size - Number(range[2]);
      let end = range[1] ? (range[2] ? Math.min(Number(range[2]), s.size - 1) : s.size - 1) : s.size - 1;
      if (start < 0) start = 0;
      if (start >= s.size || end < start) {
        res.writeHead(416, { 'content-range': `bytes */${s.size}` });
        res.end();
        return;
      }
      end = Math.min(end, s.size - 1);
      res.writeHead(206, { ...common, 'content-range': `bytes ${start}-${end}/${s.size}`, 'content-length': String(end - start + 1) });
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...common, 'content-length': String(s.size) });
    createReadStream(file).pipe(res);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) xmlError(res, 500, 'InternalError', String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
