/**
 * A real gateway for tests: the gateway role's actor host (startHost, the
 * same code `starweather start` runs inline) on the embedded bus, with
 * storage in a temp dir (PGlite, memory cache), a catalog seeded from the
 * shipped snapshot (plus OMM-only objects with 6- and 9-digit ids), and a
 * tracker-frame publisher that propagates the real element sets with
 * propagateBatch and publishes encoded frames per shard, like a tracker host.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { SatRec } from 'satellite.js';
import { loadConfig, type Config } from '../../config/load.js';
import { encodeTrackerFrame } from '../../protocol/frames/tracker-state.js';
import { names as protocolNames, type Names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import { startHost, type RunningHost } from '../../actors/host/host.js';
import type { NodeView } from '../../actors/host/services.js';
import { createTransport } from '../../actors/runtime/transport/index.js';
import { shardOf } from '../../actors/runtime/sharding.js';
import { openStorage, type Storage } from '../../actors/storage/index.js';
import { upsertObject } from '../../actors/storage/catalog.js';
import { insertElementSet } from '../../actors/storage/element-sets.js';
import { createSatrec, elementSetFromOmm, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { validateOmm } from '../../actors/tracker/omm.js';
import { createStateBuffer, propagateBatch } from '../../actors/tracker/propagate.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import type { TleRecord } from '../../actors/tracker/tle.js';
import { freePort } from './nats-server.js';

export { freePort };

export interface SeededObject {
  noradId: number;
  name: string;
  groups: string[];
  satrec: SatRec;
}

/** An OMM (CelesTrak JSON keys) with the orbit of a TLE record and another id. */
export function ommFromTle(r: TleRecord, noradId: number, name: string): Record<string, unknown> {
  const epoch = new Date(Math.floor(r.epochMs)).toISOString().replace('Z', '');
  return {
    OBJECT_NAME: name,
    OBJECT_ID: r.intlDesignator ? `20${r.intlDesignator.slice(0, 2)}-${r.intlDesignator.slice(2)}` : '2026-001A',
    EPOCH: epoch,
    MEAN_MOTION: r.meanMotionRevPerDay,
    ECCENTRICITY: r.eccentricity,
    INCLINATION: r.inclinationDeg,
    RA_OF_ASC_NODE: r.raanDeg,
    ARG_OF_PERICENTER: r.argpDeg,
    MEAN_ANOMALY: r.meanAnomalyDeg,
    EPHEMERIS_TYPE: 0,
    CLASSIFICATION_TYPE: 'U',
    NORAD_CAT_ID: noradId,
    ELEMENT_SET_NO: 999,
    REV_AT_EPOCH: 0,
    BSTAR: r.bstar,
    MEAN_MOTION_DOT: r.ndotRevPerDay2 * 2,
    MEAN_MOTION_DDOT: r.nddotRevPerDay3 * 6,
  };
}

export interface GatewayHarness {
  cfg: Config;
  port: number;
  base: string;
  n: Names;
  transport: Transport;
  storage: Storage;
  host: RunningHost;
  objects: SeededObject[];
  byId: Map<number, SeededObject>;
  /** Propagate every seeded object to `tMs` and publish one frame per shard. Returns the tick. */
  publishTick(tMs?: number): number;
  /** Publish a tick every second until stopped. */
  startTicking(everyMs?: number): () => void;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Snapshot objects to seed (default 300). */
  count?: number;
  /** Snapshot objects propagated and published in frames (default `count`); only the first `count` are in the database. */
  publishCount?: number;
  env?: Record<string, string>;
  nodeView?: NodeView;
  /** Receives what the host sends its supervisor (heartbeats, info, metrics answers); default: dropped. */
  send?(message: unknown): void;
}

/** Groups the tests filter on: every 10th object is in `testgroup`; ISS-like names in `stations`. */
function groupsFor(i: number, name: string): string[] {
  const g = ['active'];
  if (i % 10 === 0) g.push('testgroup');
  if (/ISS|ZARYA/.test(name)) g.push('stations');
  return g;
}

export const SIX_DIGIT_ID = 123_456;
export const NINE_DIGIT_ID = 999_999_999;

export async function startGatewayHarness(o: HarnessOptions = {}): Promise<GatewayHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-gw-'));
  const port = await freePort();
  const namespace = `t${randomBytes(5).toString('hex')}`;
  const cfg = loadConfig({
    env: {
      STARWEATHER_DATA_DIR: dir,
      STARWEATHER_HOST: '127.0.0.1',
      STARWEATHER_PORT: String(port),
      STARWEATHER_NAMESPACE: namespace,
      STARWEATHER_LOG_LEVEL: 'silent',
      STARWEATHER_SHARD_COUNT: '8',
      STARWEATHER_NODE_ID: `gw-${namespace}`,
      ...o.env,
    },
  });
  const n = protocolNames(namespace);
  const logger = pino({ level: 'silent' });
  const transport = await createTransport(cfg, {});
  const storage = await openStorage(cfg);

  const snap = await loadSnapshot();
  const records = snap.records.slice(0, o.count ?? 300);
  const objects: SeededObject[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const groups = groupsFor(i, r.name);
    await upsertObject(storage.db, { noradId: r.noradId, name: r.name, groups });
    await insertElementSet(storage.db, { noradId: r.noradId, epoch: new Date(r.epochMs), source: 'test:snapshot', format: 'tle', tleLine1: r.line1, tleLine2: r.line2 });
    objects.push({ noradId: r.noradId, name: r.name, groups, satrec: createSatrec(elementSetFromTle(r)).satrec });
  }
  // OMM-only objects with catalog numbers beyond the TLE's 5 digits (published as OMM only since 2026).
  for (const [id, name] of [
    [SIX_DIGIT_ID, 'SIXDIGIT TEST'],
    [NINE_DIGIT_ID, 'NINEDIGIT TEST'],
  ] as const) {
    const omm = ommFromTle(records[0]!, id, name);
    const parsed = validateOmm(omm, 1);
    if (!parsed.ok) throw new Error(`crafted OMM rejected: ${parsed.rejection.reason}`);
    await upsertObject(storage.db, { noradId: id, name, groups: ['active', 'omm-only'] });
    await insertElementSet(storage.db, { noradId: id, epoch: new Date(parsed.value.epochMs), source: 'test:omm', format: 'omm', omm });
    objects.push({ noradId: id, name, groups: ['active', 'omm-only'], satrec: createSatrec(elementSetFromOmm(parsed.value)).satrec });
  }
  const byId = new Map(objects.map((x) => [x.noradId, x]));
  // Frame-only objects: bigger frames without a slower seed.
  const published = [...objects];
  for (const r of snap.records.slice(records.length, Math.max(records.length, o.publishCount ?? 0))) {
    published.push({ noradId: r.noradId, name: r.name, groups: [], satrec: createSatrec(elementSetFromTle(r)).satrec });
  }

  const host = await startHost({
    config: cfg,
    role: 'gateway',
    hostId: `gw-${namespace}`,
    logger,
    send: o.send ?? (() => {}),
    transport,
    storage: async () => storage,
    nodeView: o.nodeView ?? {
      health: async () => {
        throw new Error('no supervisor in this test');
      },
      metrics: async () => {
        throw new Error('no supervisor in this test');
      },
    },
  });

  const satrecs = published.map((x) => x.satrec);
  const buf = createStateBuffer(published.length);
  const ids = new Uint32Array(published.map((x) => x.noradId));
  const flags = new Uint32Array(published.length);
  const byShard = new Map<number, number[]>();
  published.forEach((x, i) => {
    const s = shardOf(String(x.noradId), cfg.cluster.shardCount);
    byShard.set(s, [...(byShard.get(s) ?? []), i]);
  });
  const publishTick = (tMs = Math.floor(Date.now() / 1000) * 1000): number => {
    propagateBatch(satrecs, published.length, tMs, buf.state, buf.errors);
    for (let i = 0; i < published.length; i++) flags[i] = buf.errors[i] === 0 ? 0 : 1;
    for (const [shard, idx] of byShard) {
      const frame = encodeTrackerFrame(shard, tMs, { ids, flags, values: buf.state, count: published.length }, idx);
      transport.publish(n.subjects.trackerState(shard), frame);
    }
    return tMs;
  };
  const startTicking = (everyMs = 1000): (() => void) => {
    let last = 0;
    const timer = setInterval(() => {
      // Whole seconds like a tracker; faster cadences (backpressure tests) use distinct later ticks.
      const t = everyMs >= 1000 ? Math.floor(Date.now() / 1000) * 1000 : Date.now();
      if (t === last) return;
      last = t;
      publishTick(t);
    }, everyMs);
    return () => clearInterval(timer);
  };

  return {
    cfg,
    port,
    base: `http://127.0.0.1:${port}`,
    n,
    transport,
    storage,
    host,
    objects,
    byId,
    publishTick,
    startTicking,
    async close() {
      await host.drain().catch(() => undefined);
      await storage.close().catch(() => undefined);
      await transport.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
