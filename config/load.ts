import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from '../protocol/errors.js';
import { isValidNamespace } from '../protocol/names.js';
import { KEYS, type KeySpec } from './schema.js';

export type RoleName = 'tracker' | 'tile' | 'ingest' | 'gateway' | 'worker';

export interface Config {
  nodeId: string;
  roles: RoleName[];
  namespace: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logFormat: 'auto' | 'json' | 'pretty';
  nats: { url: string; replicas: number; user: string; password: string; token: string; nkeySeedFile: string; credsFile: string; tlsCaFile: string; tlsCertFile: string; tlsKeyFile: string };
  database: { url: string; password: string };
  redis: { url: string; password: string };
  http: { host: string; port: number; nodePort: number; userAgent: string };
  /** Gateway limits and websocket access (actors/gateway/). */
  gateway: {
    wsAllowedOrigins: string[];
    wsToken: string;
    wsMaxClients: number;
    wsMaxPerIp: number;
    wsMaxBufferedBytes: number;
    wsMaxSkippedFrames: number;
    wsHeartbeatMs: number;
    wsMessagesPerSecond: number;
    rateLimitMax: number;
    rateLimitWindowMs: number;
    /** Origins allowed by CORS (actors/gateway/cors.ts); [] → no CORS headers. */
    corsAllowedOrigins: string[];
    /** Base of STAC links ('' → from a well-formed Host; actors/gateway/stac/links.ts), without a trailing slash. */
    publicBaseUrl: string;
    /** Bearer key for write endpoints; '' → generated (embedded) or writes refused (cluster). See actors/gateway/auth.ts. */
    apiKey: string;
    /** STAC byte caps (actors/gateway/stac/transactions.ts, page.ts). */
    stacItemMaxBytes: number;
    stacItemCollectionMaxBytes: number;
    stacPageMaxBytes: number;
    /** HTTP load shedding (actors/gateway/overload.ts); 0 turns a threshold off. */
    shedEventLoopDelayMs: number;
    shedEventLoopUtilization: number;
    shedSampleMs: number;
    shedRetryAfterS: number;
  };
  /** SSRF guard for STAC asset hrefs (actors/gateway/ssrf.ts). */
  assets: { hosts: string[]; schemes: string[]; fileRoot: string; privateHosts: string[]; fetchTimeoutMs: number; fetchMaxBytes: number };
  work: { ackWaitMs: number; maxDeliver: number; dedupeWindowMs: number; concurrency: number; prefetch: number; retryDelayMs: number; shedLagMs: number; transientMaxDelayMs: number; transientGiveUpMs: number };
  cluster: { shardCount: number; leaseMs: number; leaseOutageGraceMs: number; presenceConfirmMs: number; heartbeatMs: number; memberTtlMs: number };
  supervisor: {
    maxRestarts: number;
    restartWindowMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    hangTimeoutMs: number;
    heartbeatTimeoutMs: number;
    slowLagMs: number;
    startupTimeoutMs: number;
    shutdownTimeoutMs: number;
    statusIntervalMs: number;
    queueStallMs: number;
    embeddedHosts: 'thread' | 'inline';
    trackerHosts: number;
  };
  /** Extension points an operator can load without changing the code. */
  plugins: { handlers: string[] };
  storage: { metricsRetentionMonths: number; partitionsAheadMonths: number; tileCacheMaxBytes: number; tileCacheDir: string };
  /** Tracker QA: element age limits by orbit regime, days (actors/tracker/qa-config.ts). */
  tracker: { maxElementAgeDaysLeo: number; maxElementAgeDaysMeo: number; maxElementAgeDaysGeo: number; maxElementAgeDaysHeo: number };
  /** Catalog ingest (actors/ingest/catalog-*.ts). */
  catalog: {
    enabled: boolean;
    url: string;
    groups: string[];
    format: 'json' | 'tle' | '3le';
    intervalMs: number;
    jitterMs: number;
    minRefetchMs: number;
    timeoutMs: number;
    maxBytes: number;
    snapshotFallback: 'auto' | 'true' | 'false';
    retryMs: number;
    retryMaxMs: number;
  };
  /** Tile pipeline (actors/tile/). */
  tile: {
    size: number;
    halo: number;
    kernels: 'auto' | 'native' | 'ts';
    /** The native addon file; '' → native/build/Release/starweather_kernels.node (actors/tile/kernels/native.ts ADDON_PATH). */
    nativeAddon: string;
    profile: 'us1976' | 'zonal';
    concurrency: number;
    sceneCache: number;
    sceneMaxBytes: number;
    /** Finalize reconciler (actors/tile/pipeline/reconcile.ts): period (0 = off) and the idle time a complete scene must have. */
    reconcileIntervalMs: number;
    reconcileIdleMs: number;
    productMaxPx: number;
    modelPath: string;
    stormMinOvershoots: number;
    /** Scenes a cyclone track needs before it warns (actors/tile/pipeline/outputs.ts). */
    stormTrackMinScenes: number;
  };
  /** Imagery ingest (actors/ingest/imagery-*.ts). */
  imagery: {
    sources: Array<'goes-east' | 'goes-west' | 'himawari-9'>;
    products: string[];
    bands: string[];
    intervalMs: number;
    s3Endpoint: string;
    dir: string;
    gatewayUrl: string;
    headerBytes: number;
    segmentTimeoutMs: number;
    timeoutMs: number;
  };
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; defaults to env STARWEATHER_CONFIG. */
  file?: string;
  /** Highest precedence, for the CLI and tests. */
  overrides?: Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let obj = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof obj[p] !== 'object' || obj[p] === null) obj[p] = {};
    obj = obj[p] as Record<string, unknown>;
  }
  obj[parts[parts.length - 1]!] = value;
}

function getPath(source: unknown, path: string): unknown {
  let obj: unknown = source;
  for (const p of path.split('.')) {
    if (typeof obj !== 'object' || obj === null) return undefined;
    obj = (obj as Record<string, unknown>)[p];
  }
  return obj;
}

/** Parse one value, from a string (env) or a JSON value (file), naming the key on error. */
export function coerce(spec: KeySpec, raw: unknown, from: string): unknown {
  const where = `${spec.key} (${from})`;
  const fail = (msg: string): never => {
    throw new ConfigError(where, `${msg} (got ${JSON.stringify(raw)})`);
  };
  switch (spec.kind) {
    case 'string':
    case 'url':
    case 'enum': {
      if (typeof raw !== 'string') fail('must be a string');
      const s = (raw as string).trim();
      if (spec.kind === 'enum' && !spec.values!.includes(s)) fail(`must be one of ${spec.values!.join(', ')}`);
      if (spec.kind === 'url' && s !== '') {
        let u: URL;
        try {
          u = new URL(s);
        } catch {
          return fail('must be a URL');
        }
        const scheme = u.protocol.replace(/:$/, '');
        if (spec.schemes && !spec.schemes.includes(scheme)) fail(`scheme must be one of ${spec.schemes.join(', ')}`);
      }
      return s;
    }
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) fail('must be a number');
      if (spec.kind === 'int' && !Number.isInteger(n)) fail('must be an integer');
      if (spec.min !== undefined && n < spec.min) fail(`must be ≥ ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`must be ≤ ${spec.max}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw)) return true;
      if (typeof raw === 'string' && /^(0|false|no|off)$/i.test(raw)) return false;
      return fail('must be true or false');
    }
    case 'list': {
      const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter(Boolean) : fail('must be a list');
      for (const item of list as unknown[]) {
        if (typeof item !== 'string') fail('items must be strings');
        if (spec.values && !spec.values.includes(item as string)) fail(`items must be among ${spec.values.join(', ')}`);
      }
      return [...new Set(list as string[])];
    }
  }
}

const KNOWN = new Set(KEYS.map((k) => k.key));

function checkUnknownKeys(obj: unknown, prefix: string, file: string): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (KNOWN.has(path)) continue;
    if ([...KNOWN].some((known) => known.startsWith(path + '.'))) {
      checkUnknownKeys(v, path, file);
      continue;
    }
    throw new ConfigError(path, `unknown key in ${file}`);
  }
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const out: Record<string, unknown> = {};
  for (const spec of KEYS) setPath(out, spec.key, structuredClone(spec.default));

  const file = options.file ?? env.STARWEATHER_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError('STARWEATHER_CONFIG', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    checkUnknownKeys(parsed, '', file);
    for (const spec of KEYS) {
      const v = getPath(parsed, spec.key);
      if (v !== undefined) setPath(out, spec.key, coerce(spec, v, file));
    }
  }
  for (const spec of KEYS) {
    const v = env[spec.env];
    if (v !== undefined && v !== '') setPath(out, spec.key, coerce(spec, v, spec.env));
    // Docker and Kubernetes secrets are files: a secret may come from <ENV>_FILE instead of the environment itself.
    const fromFile = spec.secret ? env[`${spec.env}_FILE`] : undefined;
    if (fromFile !== undefined && fromFile !== '') {
      if (v !== undefined && v !== '') throw new ConfigError(spec.env, `set ${spec.env} or ${spec.env}_FILE, not both`);
      let text: string;
      try {
        text = readFileSync(fromFile, 'utf8');
      } catch (err) {
        throw new ConfigError(`${spec.env}_FILE`, `cannot read ${fromFile}: ${(err as Error).message}`, { cause: err });
      }
      setPath(out, spec.key, coerce(spec, text.replace(/\r?\n$/, ''), `${spec.env}_FILE`));
    }
  }
  for (const [key, v] of Object.entries(options.overrides ?? {})) {
    const spec = KEYS.find((k) => k.key === key);
    if (!spec) throw new ConfigError(key, 'unknown key');
    setPath(out, key, coerce(spec, v, 'override'));
  }

  const cfg = out as unknown as Config;
  if (!cfg.nodeId) cfg.nodeId = `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(cfg.nodeId)) throw new ConfigError('nodeId', 'may hold only letters, digits, . _ -');
  if (!isValidNamespace(cfg.namespace)) throw new ConfigError('namespace', 'must be lower-case letters, digits or _, starting with a letter');
  if (cfg.roles.length === 0) throw new ConfigError('roles', 'at least one role is needed');
  if (cfg.catalog.retryMaxMs < cfg.catalog.retryMs) throw new ConfigError('catalog.retryMaxMs', `must be at least catalog.retryMs (${cfg.catalog.retryMs})`);
  for (const g of cfg.catalog.groups) if (!/^[A-Za-z0-9_-]{1,100}$/.test(g)) throw new ConfigError('catalog.groups', `not a CelesTrak group name: ${JSON.stringify(g)}`);
  if ((cfg.imagery.sources as string[]).includes('none')) {
    if (cfg.imagery.sources.length > 1) throw new ConfigError('imagery.sources', '`none` cannot be combined with sources');
    cfg.imagery.sources = [];
  }
  for (const b of cfg.imagery.bands) if (!/^(?:[1-9]|1[0-6])$/.test(b)) throw new ConfigError('imagery.bands', `not a band 1..16: ${JSON.stringify(b)}`);
  for (const p of cfg.imagery.products) if (!/^(ABI-L1b-Rad[FC]|ABI-L1b-RadM|AHI-L1b-FLDK)$/.test(p)) throw new ConfigError('imagery.products', `not a supported product: ${JSON.stringify(p)} (ABI-L1b-RadF, ABI-L1b-RadC, ABI-L1b-RadM, AHI-L1b-FLDK)`);
  for (const [key, u] of [['imagery.s3Endpoint', cfg.imagery.s3Endpoint.replace('{bucket}', 'bucket')], ['imagery.gatewayUrl', cfg.imagery.gatewayUrl]] as const) {
    if (u !== '' && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(u)) throw new ConfigError(key, `not an http(s) URL: ${JSON.stringify(u)}`);
  }
  if (cfg.cluster.memberTtlMs <= cfg.cluster.heartbeatMs) throw new ConfigError('cluster.memberTtlMs', 'must exceed cluster.heartbeatMs');
  if (cfg.supervisor.backoffMaxMs < cfg.supervisor.backoffBaseMs) throw new ConfigError('supervisor.backoffMaxMs', 'must be ≥ supervisor.backoffBaseMs');
  if (cfg.gateway.stacItemCollectionMaxBytes < cfg.gateway.stacItemMaxBytes) throw new ConfigError('gateway.stacItemCollectionMaxBytes', 'must be ≥ gateway.stacItemMaxBytes (an ItemCollection carries at least one item)');
  if (cfg.gateway.publicBaseUrl) {
    // The links' base is copied into every STAC answer as is: credentials, a query or a fragment there would end up in every href.
    const u = new URL(cfg.gateway.publicBaseUrl);
    if (u.username || u.password || u.search || u.hash || cfg.gateway.publicBaseUrl.includes('?') || cfg.gateway.publicBaseUrl.includes('#')) {
      throw new ConfigError('gateway.publicBaseUrl (STARWEATHER_PUBLIC_BASE_URL)', `must be scheme://host[:port][/path] without userinfo, query or fragment: ${JSON.stringify(cfg.gateway.publicBaseUrl)}`);
    }
    cfg.gateway.publicBaseUrl = `${u.protocol}//${u.host}${u.pathname}`.replace(/\/+$/, '');
  }
  for (const o of cfg.gateway.corsAllowedOrigins) {
    // An origin is scheme://host[:port] exactly (RFC 6454): a path or a trailing wildcard would never equal a browser's Origin header.
    if (o !== '*' && !/^https?:\/\/(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?\/?$/i.test(o)) {
      throw new ConfigError('gateway.corsAllowedOrigins (STARWEATHER_CORS_ALLOWED_ORIGINS)', `not an origin (scheme://host[:port]) or *: ${JSON.stringify(o)}`);
    }
  }
  if (cfg.gateway.apiKey && (cfg.gateway.apiKey.length < 16 || /\s/.test(cfg.gateway.apiKey))) throw new ConfigError('gateway.apiKey (STARWEATHER_API_KEY)', 'must be at least 16 characters without spaces');
  for (const h of [...cfg.assets.hosts, ...cfg.assets.privateHosts]) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._-]+)?$/i.test(h)) throw new ConfigError('assets.hosts', `not a host, host:port or host/bucket entry: ${JSON.stringify(h)}`);
  }
  for (const h of cfg.assets.privateHosts) {
    if (!cfg.assets.hosts.some((a) => a.toLowerCase().split('/')[0] === h.toLowerCase())) throw new ConfigError('assets.privateHosts', `${h} is not on STARWEATHER_ASSET_HOSTS`);
  }
  checkNatsAuth(cfg.nats);
  if (cfg.nats.url) {
    for (const u of cfg.nats.url.split(',')) {
      if (!/^(nats|tls|ws|wss):\/\/|^[\w.-]+:\d+$/.test(u.trim())) throw new ConfigError('nats.url (NATS_URL)', `not a NATS URL: ${u}`);
    }
  }
  return cfg;
}

/** One way to authenticate to NATS, and TLS files that come as a set. */
function checkNatsAuth(n: Config['nats']): void {
  const ways = [n.user || n.password ? 'NATS_USER/NATS_PASSWORD' : '', n.token ? 'NATS_TOKEN' : '', n.nkeySeedFile ? 'NATS_NKEY_SEED_FILE' : '', n.credsFile ? 'NATS_CREDS' : ''].filter(Boolean);
  if (ways.length > 1) throw new ConfigError('nats', `choose one way to authenticate to NATS, not ${ways.join(' and ')}`);
  if (Boolean(n.user) !== Boolean(n.password)) throw new ConfigError('nats.user (NATS_USER)', 'NATS_USER and NATS_PASSWORD go together');
  if (Boolean(n.tlsCertFile) !== Boolean(n.tlsKeyFile)) throw new ConfigError('nats.tlsCertFile (NATS_TLS_CERT)', 'a client certificate needs its key (NATS_TLS_CERT and NATS_TLS_KEY go together)');
}

/** Config as `KEY=value` lines with secrets in URLs masked, for logs and `status`. */
export function describeConfig(cfg: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of KEYS) {
    let v = getPath(cfg, spec.key);
    if (spec.kind === 'url' && typeof v === 'string' && v) {
      const u = new URL(v);
      if (u.password) u.password = '***';
      v = u.toString();
    }
    if (spec.secret && typeof v === 'string' && v) v = '***';
    out[spec.key] = v;
  }
  return out;
}
