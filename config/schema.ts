/**
 * The one typed configuration. Each key names its environment variable here,
 * so loading, validation messages and the README table come from one place.
 * Precedence: defaults → config file (JSON, STARWEATHER_CONFIG) → environment.
 */

export type ValueKind = 'string' | 'int' | 'number' | 'bool' | 'list' | 'url' | 'enum';

export interface KeySpec {
  /** Dotted path in the config object. */
  key: string;
  env: string;
  kind: ValueKind;
  default: unknown;
  description: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** For 'url': accepted schemes. */
  schemes?: readonly string[];
  /** A secret: masked in describeConfig (status output, logs). */
  secret?: boolean;
}

export const ROLE_NAMES = ['tracker', 'tile', 'ingest', 'gateway', 'worker'] as const;

export const KEYS: readonly KeySpec[] = [
  { key: 'nodeId', env: 'STARWEATHER_NODE_ID', kind: 'string', default: '', description: 'Node name in the cluster; empty: `<hostname>-<pid>`' },
  { key: 'roles', env: 'STARWEATHER_ROLES', kind: 'list', default: ['tracker', 'tile', 'ingest', 'gateway', 'worker'], values: ROLE_NAMES, description: 'Actor-host roles this node runs (comma-separated)' },
  { key: 'namespace', env: 'STARWEATHER_NAMESPACE', kind: 'string', default: 'sw', description: 'Prefix of every subject, stream and bucket; clusters sharing a NATS server differ here' },
  { key: 'dataDir', env: 'STARWEATHER_DATA_DIR', kind: 'string', default: './data', description: 'Embedded database, tile cache and generated API key live here' },
  { key: 'logFormat', env: 'STARWEATHER_LOG_FORMAT', kind: 'enum', default: 'auto', values: ['auto', 'json', 'pretty'], description: 'Log lines: auto is readable text on a terminal and JSON lines (one object per line) otherwise' },
  { key: 'logLevel', env: 'STARWEATHER_LOG_LEVEL', kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], description: 'pino log level' },

  { key: 'nats.url', env: 'NATS_URL', kind: 'string', default: '', description: 'NATS server(s), comma-separated; empty: the embedded in-process bus' },
  { key: 'nats.replicas', env: 'STARWEATHER_NATS_REPLICAS', kind: 'int', default: 1, min: 1, max: 5, description: 'Replicas for streams and buckets (3 in production)' },
  { key: 'nats.user', env: 'NATS_USER', kind: 'string', default: '', description: 'NATS user (with NATS_PASSWORD); empty: no user/password authentication' },
  { key: 'nats.password', env: 'NATS_PASSWORD', kind: 'string', default: '', secret: true, description: 'Password of NATS_USER (or NATS_PASSWORD_FILE)' },
  { key: 'nats.token', env: 'NATS_TOKEN', kind: 'string', default: '', secret: true, description: 'NATS token authentication (or NATS_TOKEN_FILE)' },
  { key: 'nats.nkeySeedFile', env: 'NATS_NKEY_SEED_FILE', kind: 'string', default: '', description: 'File holding an NKey user seed (SU…): NKey authentication' },
  { key: 'nats.credsFile', env: 'NATS_CREDS', kind: 'string', default: '', description: 'A NATS .creds file (user JWT and NKey seed): decentralized JWT authentication' },
  { key: 'nats.tlsCaFile', env: 'NATS_TLS_CA', kind: 'string', default: '', description: 'CA certificate(s) that NATS servers must chain to; set (or a tls:// URL): TLS to NATS' },
  { key: 'nats.tlsCertFile', env: 'NATS_TLS_CERT', kind: 'string', default: '', description: 'Client certificate for NATS TLS (mutual TLS; with NATS_TLS_KEY)' },
  { key: 'nats.tlsKeyFile', env: 'NATS_TLS_KEY', kind: 'string', default: '', description: 'Private key of NATS_TLS_CERT' },
  { key: 'database.url', env: 'DATABASE_URL', kind: 'url', default: '', schemes: ['postgres', 'postgresql'], description: 'PostgreSQL URL; empty: embedded PGlite under dataDir' },
  { key: 'database.password', env: 'DATABASE_PASSWORD', kind: 'string', default: '', secret: true, description: 'PostgreSQL password when DATABASE_URL has none (or DATABASE_PASSWORD_FILE, e.g. a Docker secret)' },
  { key: 'redis.url', env: 'REDIS_URL', kind: 'url', default: '', schemes: ['redis', 'rediss'], description: 'Redis URL; empty: in-memory cache' },
  { key: 'redis.password', env: 'REDIS_PASSWORD', kind: 'string', default: '', secret: true, description: 'Redis password (AUTH) when REDIS_URL has none (or REDIS_PASSWORD_FILE)' },

  { key: 'http.host', env: 'STARWEATHER_HOST', kind: 'string', default: '0.0.0.0', description: 'Address the HTTP servers bind to' },
  { key: 'http.port', env: 'STARWEATHER_PORT', kind: 'int', default: 8080, min: 0, max: 65535, description: 'Gateway HTTP port (REST, STAC, websocket, /health, /metrics)' },
  { key: 'http.nodePort', env: 'STARWEATHER_NODE_PORT', kind: 'int', default: 9464, min: 0, max: 65535, description: 'Port for /health and /metrics on a node without the gateway role' },

  { key: 'gateway.wsAllowedOrigins', env: 'STARWEATHER_WS_ALLOWED_ORIGINS', kind: 'list', default: [], description: 'Origins (scheme://host[:port]) allowed to open /ws, checked before the upgrade; empty: no Origin check. A request without Origin (not a browser) is allowed' },
  { key: 'gateway.wsToken', env: 'STARWEATHER_WS_TOKEN', kind: 'string', default: '', secret: true, description: 'When set, /ws requires it (`?token=` or `Authorization: Bearer`) before the upgrade' },
  { key: 'gateway.wsMaxClients', env: 'STARWEATHER_WS_MAX_CLIENTS', kind: 'int', default: 10_000, min: 1, max: 1_000_000, description: 'Websocket connections one gateway accepts; more are refused with 503' },
  { key: 'gateway.wsMaxPerIp', env: 'STARWEATHER_WS_MAX_PER_IP', kind: 'int', default: 50, min: 1, max: 1_000_000, description: 'Websocket connections one client address may hold at once (an IPv6 address counts by its /64; behind a proxy every client shares its address); more are refused with 429 before the upgrade' },
  { key: 'gateway.wsMaxBufferedBytes', env: 'STARWEATHER_WS_MAX_BUFFERED_BYTES', kind: 'int', default: 4_194_304, min: 1024, max: 1_073_741_824, description: 'A websocket client with more unsent bytes than this skips frames (latest wins)' },
  { key: 'gateway.wsMaxSkippedFrames', env: 'STARWEATHER_WS_MAX_SKIPPED_FRAMES', kind: 'int', default: 10, min: 1, max: 10_000, description: 'A websocket client that skipped this many frames in a row is disconnected (close 1008)' },
  { key: 'gateway.wsHeartbeatMs', env: 'STARWEATHER_WS_HEARTBEAT_MS', kind: 'int', default: 15_000, min: 100, max: 600_000, description: 'Heartbeat message and ping interval; a client that misses two pings is disconnected' },
  { key: 'gateway.wsMessagesPerSecond', env: 'STARWEATHER_WS_MESSAGES_PER_SECOND', kind: 'int', default: 10, min: 1, max: 10_000, description: 'Client messages per second per connection (burst twice that); excess messages get an error, and a client at 4× the rate is disconnected' },
  { key: 'gateway.rateLimitMax', env: 'STARWEATHER_RATE_LIMIT_MAX', kind: 'int', default: 600, min: 1, max: 10_000_000, description: 'HTTP requests per client IP per rate-limit window (429 past it; per gateway, not shared across gateways)' },
  { key: 'gateway.rateLimitWindowMs', env: 'STARWEATHER_RATE_LIMIT_WINDOW_MS', kind: 'int', default: 60_000, min: 1000, max: 86_400_000, description: 'HTTP rate-limit window' },
  { key: 'gateway.publicBaseUrl', env: 'STARWEATHER_PUBLIC_BASE_URL', kind: 'url', default: '', schemes: ['http', 'https'], description: 'Base URL of every link in STAC answers (self, root, parent, next), e.g. `https://starweather.example.org`; a path is kept (a proxy prefix), userinfo, query and fragment are refused. Set it behind a proxy or cache: only then are STAC reads `Cache-Control: public`. Empty: links use the request\'s Host when it is a bare host[:port], else the address the request arrived on' },
  { key: 'gateway.corsAllowedOrigins', env: 'STARWEATHER_CORS_ALLOWED_ORIGINS', kind: 'list', default: [], description: 'Origins (scheme://host[:port]) whose web pages may call the REST and STAC APIs (CORS): their requests get `Access-Control-Allow-Origin` and their preflights (OPTIONS) are answered; other origins get no CORS headers. `*` allows every origin. Empty: no CORS (browsers allow same-origin calls only)' },
  { key: 'gateway.apiKey', env: 'STARWEATHER_API_KEY', kind: 'string', default: '', secret: true, description: 'Bearer key for write endpoints (STAC transactions). Empty: embedded mode generates one at first start into `<dataDir>/api-key` (0600) and prints it once; cluster mode (NATS_URL or DATABASE_URL set) refuses writes with 503' },
  { key: 'gateway.stacItemMaxBytes', env: 'STARWEATHER_STAC_ITEM_MAX_BYTES', kind: 'int', default: 1_048_576, min: 1024, max: 16_777_216, description: 'Byte cap of one STAC item: a PUT body, a single-item POST body, and each item of an ItemCollection (as compact JSON); over it: 413' },
  { key: 'gateway.stacItemCollectionMaxBytes', env: 'STARWEATHER_STAC_ITEM_COLLECTION_MAX_BYTES', kind: 'int', default: 4_194_304, min: 1024, max: 67_108_864, description: 'Byte cap of an ItemCollection POST body (JSON.parse of 4 MiB takes ~16 ms on a 2-core machine; 16 MiB ~90 ms, all on the event loop); over it: 413' },
  { key: 'gateway.stacPageMaxBytes', env: 'STARWEATHER_STAC_PAGE_MAX_BYTES', kind: 'int', default: 4_194_304, min: 1024, max: 268_435_456, description: 'Byte cap of one STAC search or items page, on the items\' stored sizes: a page stops before the item that would pass it and its `next` link continues there; an item alone larger than the cap is served alone on its page' },
  { key: 'gateway.shedEventLoopDelayMs', env: 'STARWEATHER_SHED_EVENT_LOOP_DELAY_MS', kind: 'int', default: 250, min: 0, max: 600_000, description: 'HTTP load shedding: while the p99 event-loop delay of the last two sample windows was above this, routes other than /health and /metrics answer 503 with Retry-After (the loop is kept free enough to answer /health within 500 ms); 0: never shed on delay' },
  { key: 'gateway.shedEventLoopUtilization', env: 'STARWEATHER_SHED_EVENT_LOOP_UTILIZATION', kind: 'number', default: 0, min: 0, max: 1, description: 'HTTP load shedding on event-loop utilisation (0..1) of the last sample window; 0 (default): off, since chunked background work keeps utilisation near 1 while requests are still answered promptly' },
  { key: 'gateway.shedSampleMs', env: 'STARWEATHER_SHED_SAMPLE_MS', kind: 'int', default: 500, min: 50, max: 60_000, description: 'Load-shedding sample window: shedding starts at the end of the second window in a row over a threshold and stops at the end of the first window under both' },
  { key: 'gateway.shedRetryAfterS', env: 'STARWEATHER_SHED_RETRY_AFTER_S', kind: 'int', default: 2, min: 1, max: 3600, description: 'Retry-After (seconds) on an answer shed for overload' },
  { key: 'assets.hosts', env: 'STARWEATHER_ASSET_HOSTS', kind: 'list', default: ['noaa-goes19.s3.amazonaws.com', 'noaa-goes18.s3.amazonaws.com', 'noaa-himawari9.s3.amazonaws.com', 's3.amazonaws.com/noaa-goes19', 's3.amazonaws.com/noaa-goes18', 's3.amazonaws.com/noaa-himawari9'], description: 'Hosts asset hrefs may name (SSRF guard): `host`, `host:port` (a non-default port must be listed), `host/bucket` (path-style: the path must start with `/bucket/`)' },
  { key: 'assets.schemes', env: 'STARWEATHER_ASSET_SCHEMES', kind: 'list', default: ['https'], values: ['https', 'http'], description: 'URL schemes asset hrefs may use; file: is governed by STARWEATHER_ASSET_FILE_ROOT' },
  { key: 'assets.fileRoot', env: 'STARWEATHER_ASSET_FILE_ROOT', kind: 'string', default: '', description: 'file: asset hrefs are accepted only under this directory (checked with path.relative, symlinks resolved on read); empty: file: is refused' },
  { key: 'assets.privateHosts', env: 'STARWEATHER_ASSET_PRIVATE_HOSTS', kind: 'list', default: [], description: 'Entries of STARWEATHER_ASSET_HOSTS (`host` or `host:port`) whose DNS answers may be loopback or private, for a local S3-compatible server; empty for NOAA. Literal IPs stay refused' },
  { key: 'assets.fetchTimeoutMs', env: 'STARWEATHER_ASSET_FETCH_TIMEOUT_MS', kind: 'int', default: 30_000, min: 100, max: 3_600_000, description: 'Whole-request timeout of one asset fetch (headers and body)' },
  { key: 'assets.fetchMaxBytes', env: 'STARWEATHER_ASSET_FETCH_MAX_BYTES', kind: 'int', default: 16_777_216, min: 1024, max: 4_294_967_296, description: 'Body size cap of one asset fetch (a header range, not whole scenes); more fails the fetch' },

  { key: 'work.ackWaitMs', env: 'STARWEATHER_ACK_WAIT_MS', kind: 'int', default: 30_000, min: 100, max: 3_600_000, description: 'Ack deadline of a delivered task; working() heartbeats extend it' },
  { key: 'work.maxDeliver', env: 'STARWEATHER_MAX_DELIVER', kind: 'int', default: 5, min: 1, max: 100, description: 'Deliveries before a task goes to the dead-letter stream' },
  { key: 'work.dedupeWindowMs', env: 'STARWEATHER_DEDUPE_WINDOW_MS', kind: 'int', default: 120_000, min: 1000, max: 86_400_000, description: 'Window in which a repeated message id is dropped' },
  { key: 'work.concurrency', env: 'STARWEATHER_WORK_CONCURRENCY', kind: 'int', default: 8, min: 1, max: 1024, description: 'Tasks a worker host runs at once, across the three queues' },
  { key: 'work.prefetch', env: 'STARWEATHER_WORK_PREFETCH', kind: 'int', default: 32, min: 1, max: 4096, description: 'Tasks held ready per queue per host' },
  { key: 'work.shedLagMs', env: 'STARWEATHER_SHED_LAG_MS', kind: 'int', default: 250, min: 10, max: 3_600_000, description: 'Overload: while the event-loop delay of a worker host (p99 over the last seconds) is above this, it starts no new weather tasks; above 4× this, no new satellite tasks either. high tasks are never held back; held tasks stay buffered (with working() heartbeats) and start once the delay falls' },
  { key: 'work.retryDelayMs', env: 'STARWEATHER_RETRY_DELAY_MS', kind: 'int', default: 1000, min: 0, max: 600_000, description: 'Base delay before a failed task is redelivered (doubles per attempt)' },
  { key: 'work.transientMaxDelayMs', env: 'STARWEATHER_TRANSIENT_MAX_DELAY_MS', kind: 'int', default: 15_000, min: 100, max: 3_600_000, description: 'A task that fails because a dependency is down (database, NATS, network, a timeout) is held by its worker without spending a delivery, and its queue stops starting tasks (circuit breaker); one probe task runs after STARWEATHER_RETRY_DELAY_MS, doubling per failed probe up to this. The longest a worker waits to notice that a dependency is back' },
  { key: 'work.transientGiveUpMs', env: 'STARWEATHER_TRANSIENT_GIVE_UP_MS', kind: 'int', default: 1_800_000, min: 0, max: 86_400_000, description: 'A task held this long for transient failures counts its next failure against its deliveries (STARWEATHER_MAX_DELIVER) again, so an error that is never cured still ends in the dead-letter stream' },

  { key: 'cluster.shardCount', env: 'STARWEATHER_SHARD_COUNT', kind: 'int', default: 256, min: 1, max: 65_536, description: 'Fixed shard count; must be equal on every node' },
  { key: 'cluster.leaseMs', env: 'STARWEATHER_LEASE_MS', kind: 'int', default: 6000, min: 500, max: 600_000, description: 'Lease length for shards and singletons; renewed every third of it' },
  { key: 'cluster.leaseOutageGraceMs', env: 'STARWEATHER_LEASE_OUTAGE_GRACE_MS', kind: 'int', default: 20_000, min: 0, max: 600_000, description: 'How long past its deadline a shard lease is kept while renewals fail only because the leases bucket has no leader (a NATS JetStream election, 4-9 s on 2.9) and the host is still connected; 0 releases at the deadline' },
  { key: 'cluster.heartbeatMs', env: 'STARWEATHER_HEARTBEAT_MS', kind: 'int', default: 1000, min: 100, max: 60_000, description: 'Membership and child heartbeat interval' },
  { key: 'cluster.presenceConfirmMs', env: 'STARWEATHER_PRESENCE_CONFIRM_MS', kind: 'int', default: 1500, min: 0, max: 600_000, description: 'A peer host whose presence probes NATS answers with no responders (its connection is gone: a crashed process or node) for this long is buried: its leases and member record are given back at once instead of expiring. A busy or stopped host still holds its connection and is never buried this way; 0 turns the probes off' },
  { key: 'cluster.memberTtlMs', env: 'STARWEATHER_MEMBER_TTL_MS', kind: 'int', default: 5000, min: 500, max: 600_000, description: 'A member that has not heartbeated for this long is gone' },

  { key: 'supervisor.maxRestarts', env: 'STARWEATHER_MAX_RESTARTS', kind: 'int', default: 5, min: 0, max: 1000, description: 'Restarts allowed within the window before escalation' },
  { key: 'supervisor.restartWindowMs', env: 'STARWEATHER_RESTART_WINDOW_MS', kind: 'int', default: 30_000, min: 1000, max: 86_400_000, description: 'Window for counting restarts' },
  { key: 'supervisor.backoffBaseMs', env: 'STARWEATHER_BACKOFF_BASE_MS', kind: 'int', default: 200, min: 0, max: 600_000, description: 'First restart delay; doubles each restart, with jitter' },
  { key: 'supervisor.backoffMaxMs', env: 'STARWEATHER_BACKOFF_MAX_MS', kind: 'int', default: 10_000, min: 0, max: 3_600_000, description: 'Longest restart delay' },
  { key: 'supervisor.startupTimeoutMs', env: 'STARWEATHER_STARTUP_TIMEOUT_MS', kind: 'int', default: 30_000, min: 500, max: 3_600_000, description: 'A starting child (connect, provision, join) gets this long to send its first heartbeat' },
  { key: 'supervisor.hangTimeoutMs', env: 'STARWEATHER_HANG_TIMEOUT_MS', kind: 'int', default: 15_000, min: 500, max: 3_600_000, description: 'A host whose event loop makes no progress at all for this long is hung: killed and restarted (a busy host whose loop still turns is never killed). In the embedded default the node process ends itself instead, for its process manager to restart' },
  { key: 'supervisor.heartbeatTimeoutMs', env: 'STARWEATHER_HEARTBEAT_TIMEOUT_MS', kind: 'int', default: 5000, min: 200, max: 3_600_000, description: 'A forked host whose liveness thread sends no beat for this long is stopped (SIGSTOP) or dead: killed and restarted. Beats come from a thread that runs while the host\'s JavaScript is busy' },
  { key: 'supervisor.slowLagMs', env: 'STARWEATHER_SLOW_LAG_MS', kind: 'int', default: 500, min: 10, max: 3_600_000, description: 'Event-loop delay (p99 of the last window) above which a host is reported slow in /health, /cluster and metrics; slow is never a reason to kill' },
  { key: 'supervisor.shutdownTimeoutMs', env: 'STARWEATHER_SHUTDOWN_TIMEOUT_MS', kind: 'int', default: 20_000, min: 100, max: 3_600_000, description: 'Drain time per child on SIGTERM before SIGKILL' },
  { key: 'supervisor.queueStallMs', env: 'STARWEATHER_QUEUE_STALL_MS', kind: 'int', default: 60_000, min: 0, max: 86_400_000, description: 'A work queue holding messages whose depth has not gone down for this long is reported as not draining (/health degraded, with the queue and its depth); 0: not checked' },
  { key: 'supervisor.embeddedHosts', env: 'STARWEATHER_EMBEDDED_HOSTS', kind: 'enum', default: 'thread', values: ['thread', 'inline'], description: 'With the embedded bus (no NATS_URL): thread runs each role host on a worker thread of its own, with the bus, PGlite and the memory cache bridged from the main thread, so one role\'s CPU work never stalls another\'s loop; inline runs every host on the main loop (fewer threads, no isolation)' },
  { key: 'supervisor.trackerHosts', env: 'STARWEATHER_TRACKER_HOSTS', kind: 'int', default: 1, min: 1, max: 16, description: 'Tracker hosts this node runs; they share its shards as the tracker hosts of several nodes do, so one node can propagate on several cores (cluster mode without DATABASE_URL allows one)' },
  { key: 'supervisor.statusIntervalMs', env: 'STARWEATHER_STATUS_INTERVAL_MS', kind: 'int', default: 2000, min: 100, max: 600_000, description: 'How often cluster status is published' },

  { key: 'plugins.handlers', env: 'STARWEATHER_EXTRA_HANDLERS', kind: 'list', default: [], description: 'Task-handler plugin modules (comma-separated paths) loaded by hosts that consume work queues; each exports `register(registrar, context)`' },

  { key: 'storage.metricsRetentionMonths', env: 'STARWEATHER_METRICS_RETENTION_MONTHS', kind: 'int', default: 13, min: 1, max: 1200, description: 'Months of weather_metrics kept; older monthly partitions are dropped' },
  { key: 'storage.partitionsAheadMonths', env: 'STARWEATHER_PARTITIONS_AHEAD_MONTHS', kind: 'int', default: 3, min: 1, max: 120, description: 'weather_metrics partitions created ahead of the current month' },
  { key: 'storage.tileCacheMaxBytes', env: 'STARWEATHER_TILE_CACHE_MAX_BYTES', kind: 'int', default: 1_073_741_824, min: 1_048_576, max: Number.MAX_SAFE_INTEGER, description: 'Size cap of the tile/image file cache; least recently used files are evicted past it' },
  { key: 'storage.tileCacheDir', env: 'STARWEATHER_TILE_CACHE_DIR', kind: 'string', default: '', description: 'Root of the tile/image file cache; empty: `<dataDir>/tiles`' },

  { key: 'catalog.enabled', env: 'STARWEATHER_CATALOG_ENABLED', kind: 'bool', default: true, description: 'The ingest role runs the catalog ingest singleton (scheduled CelesTrak cycles and on-demand refresh)' },
  { key: 'catalog.url', env: 'STARWEATHER_CELESTRAK_URL', kind: 'url', default: 'https://celestrak.org/NORAD/elements/gp.php', schemes: ['http', 'https'], description: 'CelesTrak GP API endpoint (gp.php); GROUP and FORMAT are added as query parameters' },
  { key: 'catalog.groups', env: 'STARWEATHER_CATALOG_GROUPS', kind: 'list', default: ['active'], description: 'CelesTrak groups fetched each cycle, one request each, in order (comma-separated)' },
  { key: 'catalog.format', env: 'STARWEATHER_CATALOG_FORMAT', kind: 'enum', default: 'json', values: ['json', 'tle', '3le'], description: 'GP format requested: json (OMM, 9-digit catalog numbers), tle or 3le (5-character catalog numbers only)' },
  { key: 'catalog.intervalMs', env: 'STARWEATHER_CATALOG_INTERVAL_MS', kind: 'int', default: 86_400_000, min: 1000, max: 31 * 86_400_000, description: 'Time between catalog cycles (CelesTrak updates GP data a few times a day; asks for no more than one download per 2 h)' },
  { key: 'catalog.jitterMs', env: 'STARWEATHER_CATALOG_JITTER_MS', kind: 'int', default: 600_000, min: 0, max: 86_400_000, description: 'Random delay up to this long added to each cycle, so clusters do not all call CelesTrak at the same moment' },
  { key: 'catalog.minRefetchMs', env: 'STARWEATHER_CATALOG_MIN_REFETCH_MS', kind: 'int', default: 7_200_000, min: 0, max: 31 * 86_400_000, description: 'A group downloaded (or answered non-200) less than this long ago is skipped, on demand too (CelesTrak: 2 h between downloads of the same data)' },
  { key: 'catalog.timeoutMs', env: 'STARWEATHER_CATALOG_TIMEOUT_MS', kind: 'int', default: 120_000, min: 100, max: 3_600_000, description: 'Whole-request timeout of one GP download (headers and body)' },
  { key: 'catalog.maxBytes', env: 'STARWEATHER_CATALOG_MAX_BYTES', kind: 'int', default: 134_217_728, min: 1024, max: 4_294_967_296, description: 'Body size cap of one GP download (or a `catalog load` file); a larger body fails the cycle' },
  { key: 'catalog.snapshotFallback', env: 'STARWEATHER_CATALOG_SNAPSHOT_FALLBACK', kind: 'enum', default: 'auto', values: ['auto', 'true', 'false'], description: 'Load the shipped catalog snapshot when the first fetch fails and the database has no catalog; auto: only in embedded mode (no NATS_URL)' },
  { key: 'catalog.retryMs', env: 'STARWEATHER_CATALOG_RETRY_MS', kind: 'int', default: 30_000, min: 100, max: 3_600_000, description: 'First retry delay after a catalog load that did not complete for a reason on our side (lease lost at commit, database error), or while the node has no catalog at all; doubles per failure up to catalog.retryMaxMs, with jitter. CelesTrak rules still apply to every retry' },
  { key: 'catalog.retryMaxMs', env: 'STARWEATHER_CATALOG_RETRY_MAX_MS', kind: 'int', default: 300_000, min: 100, max: 86_400_000, description: 'Cap of the catalog retry delay' },

  // Element age limits by orbit regime (actors/tracker/orbit-regime.ts gives the regimes, the defaults and the published error growth they rest on).
  { key: 'tracker.maxElementAgeDaysLeo', env: 'STARWEATHER_MAX_ELEMENT_AGE_DAYS_LEO', kind: 'int', default: 30, min: 1, max: 36_500, description: 'LEO (mean motion > 11.25 rev/day, e ≤ 0.25): states from elements older than this many days are published as not good (QA flag elements_expired) and drawn dimmed; decays they predict are one grouped alert per catalog load' },
  { key: 'tracker.maxElementAgeDaysMeo', env: 'STARWEATHER_MAX_ELEMENT_AGE_DAYS_MEO', kind: 'int', default: 60, min: 1, max: 36_500, description: 'MEO (every e ≤ 0.25 orbit that is neither LEO nor GEO): element age limit in days, as for LEO' },
  { key: 'tracker.maxElementAgeDaysGeo', env: 'STARWEATHER_MAX_ELEMENT_AGE_DAYS_GEO', kind: 'int', default: 90, min: 1, max: 36_500, description: 'GEO (0.9–1.1 rev/day, e ≤ 0.25): element age limit in days, as for LEO' },
  { key: 'tracker.maxElementAgeDaysHeo', env: 'STARWEATHER_MAX_ELEMENT_AGE_DAYS_HEO', kind: 'int', default: 30, min: 1, max: 36_500, description: 'HEO (e > 0.25): element age limit in days, as for LEO' },
  { key: 'imagery.sources', env: 'STARWEATHER_IMAGERY_SOURCES', kind: 'list', default: ['goes-east', 'goes-west', 'himawari-9'], values: ['goes-east', 'goes-west', 'himawari-9', 'none'], description: 'Satellite sources the imagery ingest polls: goes-east (noaa-goes19), goes-west (noaa-goes18), himawari-9 (noaa-himawari9); `none`: no S3 polling (the local directory still works)' },
  { key: 'imagery.products', env: 'STARWEATHER_IMAGERY_PRODUCTS', kind: 'list', default: [], description: 'Products polled (ABI-L1b-RadF, ABI-L1b-RadC, AHI-L1b-FLDK); each applies to the sources of its instrument; empty: RadF and RadC for GOES, FLDK for Himawari' },
  { key: 'imagery.bands', env: 'STARWEATHER_IMAGERY_BANDS', kind: 'list', default: ['13'], description: 'Bands registered (1..16; 13 is the 10.3 µm window)' },
  { key: 'imagery.intervalMs', env: 'STARWEATHER_IMAGERY_INTERVAL_MS', kind: 'int', default: 600_000, min: 1000, max: 86_400_000, description: 'Time between imagery polls (full-disk scenes come every 10 min)' },
  { key: 'imagery.s3Endpoint', env: 'STARWEATHER_S3_ENDPOINT', kind: 'string', default: 'https://s3.amazonaws.com', description: 'S3 endpoint, read anonymously. Path style ({endpoint}/{bucket}/{key}); an endpoint containing {bucket} is virtual-hosted, e.g. https://{bucket}.s3.amazonaws.com' },
  { key: 'imagery.dir', env: 'STARWEATHER_IMAGERY_DIR', kind: 'string', default: '', description: 'Local-directory source: ABI/AHI files dropped here (any depth) are registered with file:// hrefs; empty: none' },
  { key: 'imagery.gatewayUrl', env: 'STARWEATHER_GATEWAY_URL', kind: 'string', default: '', description: 'Gateway the imagery ingest registers items with (POST /collections/imagery/items); empty: http://127.0.0.1:<STARWEATHER_PORT>' },
  { key: 'imagery.headerBytes', env: 'STARWEATHER_IMAGERY_HEADER_BYTES', kind: 'int', default: 1_048_576, min: 4096, max: 268_435_456, description: 'First bytes of an object read (HTTP Range) for its header; doubled on demand up to 16× this' },
  { key: 'imagery.segmentTimeoutMs', env: 'STARWEATHER_IMAGERY_SEGMENT_TIMEOUT_MS', kind: 'int', default: 1_800_000, min: 0, max: 86_400_000, description: 'A Himawari scene is registered when all its segments are listed, or this long after its first segment was seen, with the segments present' },
  { key: 'imagery.timeoutMs', env: 'STARWEATHER_IMAGERY_TIMEOUT_MS', kind: 'int', default: 30_000, min: 100, max: 600_000, description: 'Timeout of one S3 or gateway request made by the imagery ingest' },
  { key: 'tile.size', env: 'STARWEATHER_TILE_SIZE', kind: 'int', default: 512, min: 64, max: 4096, description: 'Tile core edge (px) a scene is cut into; each tile is one `imagery.tile` task on the weather queue' },
  { key: 'tile.halo', env: 'STARWEATHER_TILE_HALO', kind: 'int', default: 64, min: 0, max: 256, description: 'Neighbour pixels read around a tile core (3×3 QA test, convection texture, UNet context), clipped to the scene; at least the cloud model\'s receptive radius (its card\'s receptiveRadius, 58 px for the shipped model) makes tiled L2 equal a whole-scene run (a smaller halo is noted in /health)' },
  { key: 'tile.profile', env: 'STARWEATHER_TILE_PROFILE', kind: 'enum', default: 'us1976', values: ['us1976', 'zonal'], description: 'Temperature profile inverted for cloud-top height: the US Standard Atmosphere 1976 everywhere, or the AFGL zonal/seasonal profile of the latitude and the scan month' },
  { key: 'tile.kernels', env: 'STARWEATHER_TILE_KERNELS', kind: 'enum', default: 'auto', values: ['auto', 'native', 'ts'], description: 'L1/L3 kernels: native (C++ addon; the tile host fails to start without it), ts (TypeScript reference), auto (native when the addon loads, else ts, with one warning line and /health `kernels.running: typescript`)' },
  { key: 'tile.nativeAddon', env: 'STARWEATHER_TILE_NATIVE_ADDON', kind: 'string', default: '', description: 'The native kernels\' addon file; empty: native/build/Release/starweather_kernels.node, as `npm run build:native` writes it. A path that does not exist makes auto mode run the TypeScript kernels (how the install-without-a-compiler test hides the addon)' },
  { key: 'tile.concurrency', env: 'STARWEATHER_TILE_CONCURRENCY', kind: 'int', default: 0, min: 0, max: 256, description: 'Tiles one tile host computes at once (kernels and UNet); 0: the number of CPUs' },
  { key: 'tile.sceneCache', env: 'STARWEATHER_TILE_SCENE_CACHE', kind: 'int', default: 2, min: 1, max: 64, description: 'Decoded scenes a tile host keeps in memory (every tile of a scene reads the same file)' },
  { key: 'tile.sceneMaxBytes', env: 'STARWEATHER_TILE_SCENE_MAX_BYTES', kind: 'int', default: 536_870_912, min: 1024, max: 17_179_869_184, description: 'Largest scene file (or AHI segment) a tile host reads; a larger one fails its task' },
  { key: 'tile.productMaxPx', env: 'STARWEATHER_TILE_PRODUCT_MAX_PX', kind: 'int', default: 2048, min: 64, max: 16_384, description: 'Long side (px) of rendered products and merged rasters: a scene is reduced by a power of two (at most the tile size) to fit' },
  { key: 'tile.modelPath', env: 'STARWEATHER_TILE_MODEL', kind: 'string', default: '', description: 'Cloud UNet .onnx (its model card .json beside it); empty: the shipped actors/tile/model/cloud-unet.onnx' },
  { key: 'tile.reconcileIntervalMs', env: 'STARWEATHER_TILE_RECONCILE_INTERVAL_MS', kind: 'int', default: 30_000, min: 0, max: 3_600_000, description: 'How often a tile host looks for scenes whose tiles are all stored but whose finalize never ran (its host died between the last tile and the enqueue) and enqueues it; 0: never' },
  { key: 'tile.reconcileIdleMs', env: 'STARWEATHER_TILE_RECONCILE_IDLE_MS', kind: 'int', default: 120_000, min: 0, max: 86_400_000, description: 'A scene with every tile stored is finalized by the reconciler only after its task has not changed for this long (a finalize still queued or merging is left alone)' },
  { key: 'tile.stormMinOvershoots', env: 'STARWEATHER_STORM_MIN_OVERSHOOTS', kind: 'int', default: 5, min: 1, max: 1_000_000, description: 'Overshooting-top pixels in one tile that make it a storm cell and raise a storm warning' },
  { key: 'tile.stormTrackMinScenes', env: 'STARWEATHER_STORM_TRACK_MIN_SCENES', kind: 'int', default: 2, min: 1, max: 100, description: 'Scenes a tropical-cyclone track must have been seen in before it raises a storm warning (one image with a clear warm eye warns at once); 1: every detection warns' },
  { key: 'http.userAgent', env: 'STARWEATHER_HTTP_USER_AGENT', kind: 'string', default: 'StarWeather/0.1 (catalog ingest; +https://celestrak.org/NORAD/documentation/gp-data-formats.php)', description: 'User-Agent of outgoing HTTP requests (CelesTrak asks clients to identify themselves)' },
];
