#!/usr/bin/env node
/**
 * The `starweather` command.
 *
 *   starweather start                     everything on this machine (all roles)
 *   starweather node --roles a,b          join a cluster with these roles (needs NATS_URL)
 *   starweather status [--json]           the cluster as its nodes report it (needs NATS_URL)
 *   starweather catalog load <file|url>   validate and write a catalog (TLE, 3LE, OMM JSON or CSV)
 *   starweather catalog refresh           ask the ingest leader for a CelesTrak cycle now
 *   starweather tasks retry <id>          re-drive a failed (dead-lettered) task through the gateway
 *
 * Exit codes: 0 clean stop; 1 failure (restart intensity exhausted, could not
 * connect, no node answered `status`); 2 bad usage or a bad config value
 * (the message names the key).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config/load.js';
import { ConfigError, StarWeatherError, errorMessage } from '../protocol/errors.js';
import { names } from '../protocol/names.js';
import { MemberMessage, type ClusterStatus, type Member } from '../protocol/messages/cluster.js';
import { createTransport } from '../actors/runtime/transport/index.js';
import { collectClusterStatus } from './cluster-status.js';
import { nodeMode, startNode } from './node.js';
import { catalogLoad, catalogRefresh } from '../actors/ingest/catalog-commands.js';
import { gatewayBase } from '../actors/ingest/imagery-actor.js';
import { CATALOG_FORMATS } from '../actors/ingest/catalog-parse.js';
import type { LoadProgress } from '../actors/ingest/catalog-ingest.js';
import { catalogLoadThroughNode, nodeAnswers } from './catalog-upload.js';
import { ProgressLine, bar, count } from '../actors/runtime/progress.js';

const USAGE = `Usage: starweather <command> [options]

Commands:
  start                 Run every role on this machine. Without NATS_URL the
                        embedded in-process bus is used and each role runs on
                        a thread of its own; with NATS_URL each role is a
                        child process. Exits 2 at once if the port is taken.
  version, --version    Print the version (and Node's).
  node --roles <list>   Join a cluster with the given roles (comma-separated:
                        tracker, tile, ingest, gateway, worker). Needs NATS_URL.
  status [--json] [--wait <ms>]
                        With NATS_URL: listen for the nodes' status reports
                        (default: one status interval plus a second) and print
                        the cluster; exits 1 when no node answered. Without:
                        print the local node's hosts from its /health
                        (STARWEATHER_GATEWAY_URL or the local port); exits 1
                        when it is not running or not ok.
  catalog load <file|url> [--format json|tle|3le|csv] [--group <name>] [--json]
                        Validate a catalog and write it to the database from
                        config (the node need not run; with NATS_URL the
                        trackers are told). Beside a running embedded node
                        (no NATS_URL, no DATABASE_URL, a node answering on
                        the gateway port) the file goes through that node
                        (POST /catalog/loads with the API key). Progress on
                        stderr. Bad records are rejected and listed. Exits 1
                        when nothing could be loaded.
  catalog refresh [--wait <ms>] [--json]
                        With NATS_URL: ask the catalog ingest leader to run a
                        CelesTrak cycle now and print its report. Without:
                        run one cycle on the embedded database.
  tasks retry <id>      Re-drive a failed (dead-lettered) task with a new
                        delivery budget: POST /tasks/<id>/retry on the
                        gateway at STARWEATHER_GATEWAY_URL (default
                        http://127.0.0.1:<STARWEATHER_PORT>), with the key
                        from STARWEATHER_API_KEY or <dataDir>/api-key. Exits 1
                        when the gateway refuses (unknown task, not failed).

Options:
  --roles <list>        Roles for start/node (overrides STARWEATHER_ROLES)
  --json                Machine-readable output (status)
  --wait <ms>           How long status (or catalog refresh) waits
  --format <f>          catalog load: json, tle, 3le or csv (default: guessed)
  --group <name>        catalog load: group recorded on the loaded objects
  -h, --help            This help
  -v, --version         The version

Configuration comes from defaults, a JSON file (STARWEATHER_CONFIG) and the
environment; see the README for every key. /health and /metrics are served on
STARWEATHER_PORT (8080) by a node with the gateway role, otherwise on
STARWEATHER_NODE_PORT (9464). Task-handler plugins: STARWEATHER_EXTRA_HANDLERS.
`;

class UsageError extends Error {}

function fail(message: string, code: number): number {
  process.stderr.write(`starweather: ${message}\n`);
  return code;
}

function config(overrides: Record<string, unknown>): Config {
  return loadConfig({ overrides });
}

async function runNode(cfg: Config): Promise<number> {
  // A port in use is said at once, in one line, before any host starts (or a
  // key is generated): otherwise the gateway host fails to listen and is
  // restarted until the restart intensity gives up.
  const gateway = cfg.roles.includes('gateway');
  const port = gateway ? cfg.http.port : cfg.http.nodePort;
  const busy = await portInUse(cfg.http.host, port);
  if (busy) {
    return fail(`port ${port} on ${cfg.http.host} is already in use (${gateway ? 'STARWEATHER_PORT' : 'STARWEATHER_NODE_PORT'}): is another StarWeather running? (${busy})`, 2);
  }
  const node = await startNode({ config: cfg, mode: nodeMode(cfg), selfWatch: true });
  return node.done;
}

/** Why `port` cannot be listened on (EADDRINUSE, EACCES, …), or null when it can; port 0 is always free. */
function portInUse(host: string, port: number): Promise<string | null> {
  if (port === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(null)));
  });
}

interface LocalHealth {
  status: string;
  nodeId?: string;
  problems?: string[];
  hosts: Array<{ id: string; role: string; mode: string; pid: number | null; threadId: number | null; state: string; restarts: number; slow: boolean; heartbeatAgeMs: number | null }>;
}

/** `status` for a node on the embedded bus: its /health over HTTP (STARWEATHER_GATEWAY_URL or the local port). */
async function localStatus(cfg: Config, json: boolean): Promise<number> {
  const base = gatewayBase(cfg);
  let res: Response;
  try {
    res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    return fail(`no node answers at ${base}/health (${errorMessage(err)}): is \`starweather start\` running on port ${cfg.http.port}? (with NATS_URL set, status reads the whole cluster)`, 1);
  }
  let h: LocalHealth;
  try {
    h = (await res.json()) as LocalHealth;
  } catch (err) {
    return fail(`${base}/health answered ${res.status} with no JSON (${errorMessage(err)})`, 1);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(h)}\n`);
  } else {
    const rows = [['HOST', 'ROLE', 'MODE', 'PID', 'THREAD', 'STATE', 'RESTARTS', 'SLOW', 'HEARTBEAT']];
    for (const x of h.hosts ?? []) {
      rows.push([x.id, x.role, x.mode, String(x.pid ?? '-'), String(x.threadId ?? '-'), x.state, String(x.restarts), x.slow ? 'yes' : 'no', x.heartbeatAgeMs === null ? '-' : `${(x.heartbeatAgeMs / 1000).toFixed(1)}s`]);
    }
    const lines = [`node ${h.nodeId ?? '?'} at ${base}: ${h.status}${h.problems?.length ? ` (${h.problems.join('; ')})` : ''}`, '', table(rows)];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return h.status === 'ok' ? 0 : 1;
}

/** The package's version, from the package.json this build came with. */
async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return `starweather ${pkg.version ?? '?'} (Node ${process.versions.node})`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => pad(c, widths[i]!)).join('  ').trimEnd()).join('\n');
}

function age(ms: number | null, now: number): string {
  if (ms === null) return '-';
  const d = Math.max(0, now - ms);
  return d < 10_000 ? `${(d / 1000).toFixed(1)}s` : `${Math.round(d / 1000)}s`;
}

function renderStatus(namespace: string, nodes: ClusterStatus[], members: Member[], now: number, membersReadAt: number): string {
  const out: string[] = [`namespace ${namespace}: ${nodes.length} node(s) reporting, ${members.length} live member record(s)`];
  if (nodes.length > 0) {
    const rows = [['NODE', 'HOST', 'ROLE', 'PID', 'STATE', 'RESTARTS', 'ACTORS', 'HEARTBEAT']];
    for (const n of nodes) for (const h of n.hosts) rows.push([n.nodeId, h.hostId, h.role, String(h.pid), h.state, String(h.restarts), String(h.actors), age(h.lastHeartbeatAt, now)]);
    out.push('', table(rows));
    const latest = nodes.reduce((a, b) => (b.at > a.at ? b : a));
    const q = Object.entries(latest.queues).map(([name, v]) => `${name}=${v.depth}`);
    out.push('', `queues (as of ${age(latest.at, now)} ago): ${q.join(' ') || '-'}   dead letters: ${latest.deadLetters}`);
  }
  if (members.length > 0) {
    const rows = [['MEMBER', 'ROLE', 'NODE', 'PID', 'DRAINING', 'HEARTBEAT']];
    for (const m of members) rows.push([m.hostId, m.role, m.nodeId, String(m.pid), String(m.draining), age(m.heartbeatAt, membersReadAt)]);
    out.push('', table(rows));
  }
  return out.join('\n');
}

async function status(cfg: Config, json: boolean, waitMs: number): Promise<number> {
  const n = names(cfg.namespace);
  // Reading only: do not create streams or buckets in a namespace nobody runs.
  const transport = await createTransport(cfg, { name: 'starweather status', provision: false });
  try {
    const collecting = collectClusterStatus(transport, n, waitMs);
    let members: Member[] = [];
    let membersError: string | null = null;
    let membersReadAt = Date.now();
    try {
      const bucket = await transport.kv('members');
      const now = Date.now();
      membersReadAt = now;
      // A NATS KV listing taken while hosts heartbeat can report a key twice: keep the newest per key.
      const newest = new Map<string, { revision: number; value: Uint8Array }>();
      for (const e of await bucket.entries()) {
        const seen = newest.get(e.key);
        if (!seen || seen.revision < e.revision) newest.set(e.key, e);
      }
      for (const e of newest.values()) {
        try {
          const m = MemberMessage.decode(e.value);
          if (m.expiresAt > now) members.push(m);
        } catch {
          // A malformed record is not a member; the hosts count these themselves.
        }
      }
      members = members.sort((a, b) => a.hostId.localeCompare(b.hostId));
    } catch (err) {
      membersError = errorMessage(err);
    }
    const { nodes, invalid } = await collecting;
    const now = Date.now();
    if (json) {
      process.stdout.write(JSON.stringify({ namespace: cfg.namespace, at: now, nodes, members, invalidStatuses: invalid, membersError }, null, 2) + '\n');
    } else {
      process.stdout.write(renderStatus(cfg.namespace, nodes, members, now, membersReadAt) + '\n');
      if (membersError) process.stdout.write(`(members bucket unreadable: ${membersError})\n`);
    }
    if (nodes.length === 0) {
      process.stderr.write(`starweather: no node reported status in namespace ${cfg.namespace} within ${waitMs} ms\n`);
      return 1;
    }
    return 0;
  } finally {
    await transport.close().catch(() => undefined);
  }
}

/** `tasks retry <id>`: the gateway does the work; this only finds it and the key. */
async function tasksCommand(args: string[], values: { json?: boolean }): Promise<number> {
  const [sub, id, extra] = args;
  if (sub !== 'retry' || id === undefined || extra !== undefined) throw new UsageError('usage: starweather tasks retry <task id>');
  if (!/^[A-Za-z0-9._:\-]{1,200}$/.test(id)) throw new UsageError(`not a task id: ${JSON.stringify(id)}`);
  const cfg = config({});
  const base = gatewayBase(cfg);
  let key = cfg.gateway.apiKey;
  if (!key) {
    const file = join(cfg.dataDir, 'api-key');
    key = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (!key) return fail(`no API key: set STARWEATHER_API_KEY (or run where ${file} holds the gateway's key)`, 2);
  }
  const url = `${base}/tasks/${encodeURIComponent(id)}/retry`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    return fail(`cannot reach the gateway at ${base}: ${errorMessage(err)}`, 1);
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { detail: text.slice(0, 500) };
  }
  if (res.status === 202) {
    if (values.json) process.stdout.write(`${JSON.stringify(body)}\n`);
    else process.stdout.write(`task ${id} re-driven (${String(body.state ?? 'queued')}; ${((body.redriven as string[] | undefined) ?? []).join(', ')}); follow it at ${base}${res.headers.get('location') ?? `/tasks/${id}`}\n`);
    return 0;
  }
  if (values.json) process.stderr.write(`${JSON.stringify(body)}\n`);
  return fail(`${res.status} ${String(body.code ?? '')}: ${String(body.detail ?? body.title ?? text.slice(0, 200))}`, res.status === 401 ? 2 : 1);
}

function loadProgressText(p: LoadProgress): string {
  if (p.phase === 'parse') return 'reading and validating records';
  if (p.objectsTotal === null || p.objectsTotal === 0) return p.phase === 'done' ? 'done' : 'writing';
  return `${bar(p.objectsDone / p.objectsTotal)} ${count(p.objectsDone)} of ${count(p.objectsTotal)} objects written`;
}

async function catalogCommand(args: string[], values: { roles?: string; json?: boolean; wait?: string; format?: string; group?: string }): Promise<number> {
  if (values.roles !== undefined) throw new UsageError('--roles is for start and node');
  const cfg = config({});
  const [sub, source, extra] = args;
  let out;
  if (sub === 'load') {
    if (source === undefined || extra !== undefined) throw new UsageError('usage: starweather catalog load <file|url> [--format json|tle|3le|csv] [--group <name>]');
    if (values.wait !== undefined) throw new UsageError('--wait is for status and catalog refresh');
    if (values.format !== undefined && !(CATALOG_FORMATS as readonly string[]).includes(values.format)) throw new UsageError(`--format must be one of ${CATALOG_FORMATS.join(', ')} (got ${JSON.stringify(values.format)})`);
    const progress = new ProgressLine('catalog load');
    const options = { format: values.format, group: values.group, json: values.json ?? false, onProgress: (p: LoadProgress) => progress.update(loadProgressText(p)) };
    const base = gatewayBase(cfg);
    // Embedded: a running node holds the database, so the file goes through it.
    const viaNode = !cfg.nats.url && !cfg.database.url && (await nodeAnswers(base));
    try {
      out = viaNode ? await catalogLoadThroughNode(cfg, base, source, options) : await catalogLoad(cfg, source, options);
    } finally {
      progress.end();
    }
  } else if (sub === 'refresh') {
    if (source !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(source)}`);
    if (values.format !== undefined || values.group !== undefined) throw new UsageError('--format and --group are for catalog load');
    let waitMs: number | undefined;
    if (values.wait !== undefined) {
      waitMs = Number(values.wait);
      if (!Number.isInteger(waitMs) || waitMs < 100 || waitMs > 3_600_000) throw new UsageError(`--wait must be an integer from 100 to 3600000 ms (got ${JSON.stringify(values.wait)})`);
    }
    out = await catalogRefresh(cfg, { waitMs, json: values.json ?? false });
  } else {
    throw new UsageError('usage: starweather catalog load <file|url> | starweather catalog refresh');
  }
  (out.code === 0 ? process.stdout : process.stderr).write(out.text + '\n');
  return out.code;
}

export async function cli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        roles: { type: 'string' },
        json: { type: 'boolean', default: false },
        wait: { type: 'string' },
        format: { type: 'string' },
        group: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (err) {
    return fail(`${errorMessage(err)}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.version || command === 'version') {
    process.stdout.write(`${await version()}\n`);
    return 0;
  }
  if (values.help || command === 'help' || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  try {
    if (command === 'catalog') return await catalogCommand(positionals.slice(1), values);
    if (command === 'tasks') return await tasksCommand(positionals.slice(1), values);
    if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
    const overrides: Record<string, unknown> = {};
    if (values.roles !== undefined) {
      if (command === 'status') throw new UsageError('--roles is for start and node');
      overrides['roles'] = values.roles;
    }
    switch (command) {
      case 'start': {
        return await runNode(config(overrides));
      }
      case 'node': {
        const cfg = config(overrides);
        if (!cfg.nats.url) throw new UsageError('`node` joins a cluster over NATS: set NATS_URL (or run `starweather start` for a single machine on the embedded bus)');
        return await runNode(cfg);
      }
      case 'status': {
        const cfg = config(overrides);
        // Without NATS there is no cluster to listen to: ask the embedded node itself.
        if (!cfg.nats.url) return await localStatus(cfg, values.json ?? false);
        let waitMs = cfg.supervisor.statusIntervalMs + 1000;
        if (values.wait !== undefined) {
          waitMs = Number(values.wait);
          if (!Number.isInteger(waitMs) || waitMs < 100 || waitMs > 600_000) throw new UsageError(`--wait must be an integer from 100 to 600000 ms (got ${JSON.stringify(values.wait)})`);
        }
        return await status(cfg, values.json ?? false, waitMs);
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    if (err instanceof UsageError) return fail(err.message, 2);
    // A known failure (cannot connect, provisioning mismatch) reads better without a stack.
    if (err instanceof StarWeatherError) return fail(`${err.code}: ${err.message}`, 1);
    return fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1);
  }
}

function crash(kind: string) {
  return (err: unknown) => {
    process.stderr.write(`starweather: ${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    // Forked hosts notice the closed IPC channel and drain themselves.
    process.exit(1);
  };
}

process.on('uncaughtException', crash('uncaught exception'));
process.on('unhandledRejection', crash('unhandled rejection'));

cli(process.argv.slice(2)).then(
  (code) => {
    // Flush stdout/stderr, then leave even if a stray handle would keep the loop alive.
    process.exitCode = code;
    setTimeout(() => process.exit(code), 100).unref();
  },
  crash('failed'),
);
