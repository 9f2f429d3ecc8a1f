/**
 * SSRF guard for STAC asset hrefs (RELIABILITY.md, "Security controls").
 *
 * Two layers, because a host name on the allow list can still resolve to a
 * private address (DNS rebinding, a hijacked record, a test name):
 * - checkAssetHref: a pure policy check, run at POST time. Scheme and host
 *   must be configured, literal IPs (in any encoding the WHATWG parser
 *   accepts: 2130706433, 0x7f.1, 0177.0.0.1, [::ffff:7f00:1] …) are refused,
 *   userinfo and unlisted ports are refused, and file: paths must stay under
 *   the configured root.
 * - safeFetch: runs checkAssetHref, resolves the name itself (every address),
 *   refuses the request if any address is not global unicast, then connects
 *   to the checked address (pinned; SNI and Host carry the name). Redirects
 *   are never followed: a 3xx is returned as a refusal, since a redirect is a
 *   new, unchecked URL and S3 objects do not need one. A whole-request
 *   timeout and a byte cap are enforced while the body streams.
 * - readAssetFile: reads a file: href after resolving symlinks, so a link
 *   inside the root cannot lead outside it.
 */
import { lookup } from 'node:dns/promises';
import { constants as fsc } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';

export interface AssetPolicy {
  /** Allowed URL schemes without the colon: 'https' and/or 'http'. file: is governed by fileRoot. */
  schemes: readonly string[];
  /**
   * Allowed hosts: `host`, `host:port` (a non-default port must be named),
   * `host/prefix` or `host:port/prefix` (path-style buckets: the path must
   * be `/prefix` or start with `/prefix/`). Compared lower-case.
   */
  hosts: readonly string[];
  /** file: hrefs are accepted only under this directory; '' refuses file:. */
  fileRoot: string;
  /**
   * Entries of `hosts` (`host` or `host:port`) whose DNS answers may be
   * loopback, private (RFC 1918), ULA or CGNAT: a local S3-compatible
   * server. Link-local (metadata), unspecified, multicast and mapped
   * addresses stay refused, and so do literal IPs. Never needed for NOAA.
   */
  privateHosts?: readonly string[];
  /**
   * Lets safeFetch connect to loopback addresses (127.0.0.0/8, ::1). Only
   * code can set it (tests with a local server); no config key maps here.
   */
  allowLoopbackForTests?: boolean;
}

export type HrefRefusal =
  | 'invalid_url'
  | 'scheme'
  | 'userinfo'
  | 'literal_ip'
  | 'host'
  | 'port'
  | 'path'
  | 'file_disabled'
  | 'file_host'
  | 'file_outside_root';

export type HrefCheck =
  | { ok: true; url: URL; kind: 'http' }
  | { ok: true; url: URL; kind: 'file'; path: string }
  | { ok: false; code: HrefRefusal; reason: string };

interface HostEntry {
  host: string;
  port: string;
  prefix: string;
}

function parseEntry(raw: string): HostEntry {
  const s = raw.trim().toLowerCase().replace(/^https?:\/\//, '');
  const slash = s.indexOf('/');
  const hostPort = slash < 0 ? s : s.slice(0, slash);
  const prefix = slash < 0 ? '' : s.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  const m = /^(.*?)(?::(\d+))?$/.exec(hostPort)!;
  return { host: m[1]!.replace(/\.$/, ''), port: m[2] ?? '', prefix };
}

const compiled = new WeakMap<AssetPolicy, { hosts: HostEntry[]; privateHosts: HostEntry[]; root: string }>();

function compile(p: AssetPolicy): { hosts: HostEntry[]; privateHosts: HostEntry[]; root: string } {
  let c = compiled.get(p);
  if (!c) {
    c = { hosts: p.hosts.map(parseEntry), privateHosts: (p.privateHosts ?? []).map(parseEntry), root: p.fileRoot ? resolve(p.fileRoot) : '' };
    compiled.set(p, c);
  }
  return c;
}

const refuse = (code: HrefRefusal, reason: string): HrefCheck => ({ ok: false, code, reason });

/**
 * Is `child` inside `root` (or equal to it)? path.relative, never a bare
 * startsWith; and `..` as a whole first segment, since `..foo.nc` is a legal
 * name inside the root.
 */
export function isUnder(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function checkFile(url: URL, root: string): HrefCheck {
  if (!root) return refuse('file_disabled', 'file: hrefs are not accepted (no asset file root is configured)');
  if (url.hostname !== '' && url.hostname !== 'localhost') return refuse('file_host', `file: href names a host (${url.hostname}); only local paths are accepted`);
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (err) {
    return refuse('file_outside_root', `file: href is not a usable path: ${(err as Error).message}`);
  }
  if (path.includes('\0')) return refuse('file_outside_root', 'file: path contains a NUL byte');
  const resolved = resolve(path);
  if (!isUnder(root, resolved) || resolved === root) return refuse('file_outside_root', `file path ${resolved.slice(0, 300)} is outside the asset root`);
  return { ok: true, url, kind: 'file', path: resolved };
}

/**
 * Decide whether an asset href may be stored (and later fetched). Pure: no
 * DNS, no file system; safeFetch and readAssetFile add those checks.
 */
export function checkAssetHref(href: string, policy: AssetPolicy): HrefCheck {
  const c = compile(policy);
  if (typeof href !== 'string' || href.length === 0) return refuse('invalid_url', 'href is empty');
  if (href.length > 4096) return refuse('invalid_url', 'href is longer than 4096 characters');
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return refuse('invalid_url', `href is not an absolute URL: ${href.slice(0, 200)}`);
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (scheme === 'file') return checkFile(url, c.root);
  if ((scheme !== 'http' && scheme !== 'https') || !policy.schemes.includes(scheme)) {
    const allowed = [...policy.schemes.filter((s) => s === 'http' || s === 'https'), ...(c.root ? ['file (under the asset root)'] : [])];
    return refuse('scheme', `scheme ${scheme}: is not allowed (allowed: ${allowed.join(', ') || 'none'})`);
  }
  if (url.username !== '' || url.password !== '') return refuse('userinfo', 'hrefs with user credentials (user:pass@) are refused');
  // The WHATWG parser has already turned every IPv4 spelling into a dotted quad.
  const bare = url.hostname.replace(/^\[|\]$/g, '');
  if (url.hostname.startsWith('[') || isIP(bare) !== 0) return refuse('literal_ip', `literal IP address hosts are refused (${url.hostname}); use a configured host name`);
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const candidates = c.hosts.filter((e) => e.host === host);
  if (candidates.length === 0) return refuse('host', `host ${host} is not on the asset allow list`);
  const onPort = candidates.filter((e) => e.port === url.port);
  if (onPort.length === 0) return refuse('port', `port ${url.port} is not allowed for host ${host}`);
  const path = url.pathname;
  // `/bucket` alone is a path-style bucket request (ListObjectsV2); `/bucketx/` is another bucket.
  if (!onPort.some((e) => e.prefix === '' || path === `/${e.prefix}` || path.startsWith(`/${e.prefix}/`))) {
    return refuse('path', `path ${path.slice(0, 200)} on ${host} is outside the allowed bucket prefixes (${onPort.map((e) => e.prefix).join(', ')})`);
  }
  return { ok: true, url, kind: 'http' };
}

/**
 * Why an address must not be connected to, or null when it is global
 * unicast. IPv4-mapped/compatible, NAT64 (64:ff9b::/96), 6to4 and Teredo
 * addresses embed an IPv4 address the network may route internally, so they
 * are refused whole.
 */
export function forbiddenAddress(address: string, allowLoopback = false, allowPrivate = false): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return 'not an IP address';
  }
  const range = parsed.range();
  if (range === 'unicast') return null;
  if ((allowLoopback || allowPrivate) && range === 'loopback') return null;
  if (allowPrivate && PRIVATE_RANGES.has(range)) return null;
  return range;
}

/**
 * What a configured private host (a local S3-compatible server) may resolve
 * to. Link-local (169.254.169.254, the cloud metadata service),
 * unspecified, multicast and mapped forms stay refused even then.
 */
const PRIVATE_RANGES = new Set(['private', 'uniqueLocal', 'carrierGradeNat']);

export interface SafeFetchLimits {
  timeoutMs: number;
  maxBytes: number;
  /** Inclusive byte range (HTTP Range: bytes=start-end); end omitted: to the end. */
  range?: { start: number; end?: number };
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Extra trusted CA certificates (PEM) for https: a private S3-compatible endpoint, or a test server. */
  ca?: string | Buffer;
}

export type SafeFetchResult =
  | { ok: true; status: number; headers: IncomingHttpHeaders; body: Buffer; address: string }
  | {
      ok: false;
      /** blocked: the policy refused it (no connection made); failed: network, timeout, cap or redirect. */
      kind: 'blocked' | 'failed';
      code: HrefRefusal | 'private_address' | 'dns' | 'redirect' | 'timeout' | 'too_large' | 'network';
      reason: string;
      status?: number;
    };

function hostEntryMatches(entries: HostEntry[], host: string, port: string): boolean {
  return entries.some((e) => e.host === host && e.port === port);
}

/**
 * GET (or HEAD) an asset URL under the policy: check, resolve, refuse any
 * non-public address, connect to the checked address. Any status except 3xx
 * comes back as ok with its body (capped); a 3xx is refused, not followed.
 */
export async function safeFetch(href: string, policy: AssetPolicy, limits: SafeFetchLimits): Promise<SafeFetchResult> {
  const checked = checkAssetHref(href, policy);
  if (!checked.ok) return { ok: false, kind: 'blocked', code: checked.code, reason: checked.reason };
  if (checked.kind !== 'http') return { ok: false, kind: 'blocked', code: 'scheme', reason: 'safeFetch reads http(s) hrefs; use readAssetFile for file:' };
  const url = checked.url;
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const privateOk = hostEntryMatches(compile(policy).privateHosts, host, url.port);

  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    return { ok: false, kind: 'failed', code: 'dns', reason: `cannot resolve ${host}: ${(err as { code?: string }).code ?? (err as Error).message}` };
  }
  if (addresses.length === 0) return { ok: false, kind: 'failed', code: 'dns', reason: `${host} has no addresses` };
  // Every answer is checked: a connection could otherwise land on the bad one.
  for (const a of addresses) {
    const why = forbiddenAddress(a.address, policy.allowLoopbackForTests === true, privateOk);
    if (why) return { ok: false, kind: 'blocked', code: 'private_address', reason: `${host} resolves to ${a.address} (${why}); refused` };
  }
  const pinned = addresses[0]!;
  return request(url, host, pinned.address, limits);
}

function request(url: URL, host: string, address: string, limits: SafeFetchLimits): Promise<SafeFetchResult> {
  return new Promise((done) => {
    let settled = false;
    const finish = (r: SafeFetchResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
      done(r);
    };
    const isHttps = url.protocol === 'https:';
    const headers: Record<string, string> = { ...(limits.headers ?? {}), host: url.host, 'accept-encoding': 'identity' };
    if (limits.range) headers.range = `bytes=${limits.range.start}-${limits.range.end ?? ''}`;
    const opts: https.RequestOptions = {
      host: address,
      family: isIP(address),
      port: url.port ? Number(url.port) : isHttps ? 443 : 80,
      path: `${url.pathname}${url.search}`,
      method: limits.method ?? 'GET',
      headers,
      agent: false,
      // SNI and certificate verification use the name, while the socket goes to the checked address.
      ...(isHttps ? { servername: host, ...(limits.ca ? { ca: limits.ca } : {}) } : {}),
    };
    const req = (isHttps ? https : http).request(opts, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        finish({ ok: false, kind: 'failed', code: 'redirect', status, reason: `redirect (${status}) to ${String(res.headers.location ?? '?').slice(0, 300)} not followed` });
        res.destroy();
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > limits.maxBytes) {
        finish({ ok: false, kind: 'failed', code: 'too_large', status, reason: `body of ${declared} bytes exceeds the ${limits.maxBytes}-byte cap` });
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        n += chunk.length;
        if (n > limits.maxBytes) {
          // Settle first: destroying emits 'aborted', which would otherwise win.
          finish({ ok: false, kind: 'failed', code: 'too_large', status, reason: `body exceeds the ${limits.maxBytes}-byte cap` });
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish({ ok: true, status, headers: res.headers, body: Buffer.concat(chunks, n), address }));
      res.on('error', (err) => finish({ ok: false, kind: 'failed', code: 'network', status, reason: err.message }));
      res.on('aborted', () => finish({ ok: false, kind: 'failed', code: 'network', status, reason: 'response aborted' }));
    });
    const timer = setTimeout(() => {
      finish({ ok: false, kind: 'failed', code: 'timeout', reason: `no complete answer within ${limits.timeoutMs} ms` });
      req.destroy();
    }, limits.timeoutMs);
    const onAbort = (): void => {
      finish({ ok: false, kind: 'failed', code: 'network', reason: 'aborted' });
      req.destroy();
    };
    if (limits.signal?.aborted) return onAbort();
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, kind: 'failed', code: 'network', reason: `${err.code ?? ''} ${err.message}`.trim() }));
    req.end();
  });
}

export type FileReadResult = { ok: true; body: Buffer; path: string; size: number } | { ok: false; code: HrefRefusal | 'not_found' | 'not_a_file' | 'too_large' | 'io'; reason: string };

/**
 * Read (part of) a file: href under the policy. Symlinks are resolved first
 * and the real path checked against the real root, then the file is opened
 * with O_NOFOLLOW, so a link planted inside the root cannot lead outside it.
 */
export async function readAssetFile(href: string, policy: AssetPolicy, limits: { maxBytes: number; range?: { start: number; end?: number } }): Promise<FileReadResult> {
  const checked = checkAssetHref(href, policy);
  if (!checked.ok) return { ok: false, code: checked.code, reason: checked.reason };
  if (checked.kind !== 'file') return { ok: false, code: 'scheme', reason: 'readAssetFile reads file: hrefs only' };
  let real: string;
  let realRoot: string;
  try {
    realRoot = await realpath(compile(policy).root);
    real = await realpath(checked.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { ok: false, code: 'not_found', reason: `no such file: ${checked.path.slice(0, 300)}` } : { ok: false, code: 'io', reason: (err as Error).message };
  }
  if (!isUnder(realRoot, real) || real === realRoot) return { ok: false, code: 'file_outside_root', reason: `${checked.path.slice(0, 300)} leads outside the asset root (symlink)` };
  let fh;
  try {
    fh = await open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    return { ok: false, code: 'io', reason: (err as Error).message };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, code: 'not_a_file', reason: `${checked.path.slice(0, 300)} is not a regular file` };
    const start = Math.min(limits.range?.start ?? 0, st.size);
    const end = Math.min(limits.range?.end !== undefined ? limits.range.end + 1 : st.size, st.size);
    const len = Math.max(0, end - start);
    if (len > limits.maxBytes) return { ok: false, code: 'too_large', reason: `${len} bytes exceed the ${limits.maxBytes}-byte cap` };
    const body = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const { bytesRead } = await fh.read(body, off, len - off, start + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { ok: true, body: body.subarray(0, off), path: real, size: st.size };
  } finally {
    await fh.close();
  }
}

/** NOAA's open-data buckets, virtual-hosted and path-style (us-east-1). */
export const DEFAULT_ASSET_HOSTS = [
  'noaa-goes19.s3.amazonaws.com',
  'noaa-goes18.s3.amazonaws.com',
  'noaa-himawari9.s3.amazonaws.com',
  's3.amazonaws.com/noaa-goes19',
  's3.amazonaws.com/noaa-goes18',
  's3.amazonaws.com/noaa-himawari9',
] as const;

/** The policy from config (assets.*). allowLoopbackForTests is never set here. */
export function assetPolicyFromConfig(cfg: { assets: { hosts: string[]; schemes: string[]; fileRoot: string; privateHosts: string[] } }): AssetPolicy {
  return { hosts: cfg.assets.hosts, schemes: cfg.assets.schemes, fileRoot: cfg.assets.fileRoot, privateHosts: cfg.assets.privateHosts };
}
