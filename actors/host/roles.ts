/**
 * What each role's actor host runs, as data: the work queues it consumes,
 * the shard kinds it takes leases for, and the task handlers and entity
 * behaviours built into it. Domain issues fill these in; until then a role
 * may have nothing built in, and the host says so in /health rather than
 * pretending (see `notes` in HostInfo).
 */
import { StarWeatherError } from '../../protocol/errors.js';
import type { TSchema } from '@sinclair/typebox';
import type { QueueName } from '../../protocol/names.js';
import type { Role } from '../../protocol/messages/cluster.js';
import type { TaskHandler } from '../runtime/worker.js';
import type { RoleService } from './services.js';
import { ingestService } from '../ingest/service.js';
import { imageryIngestService } from '../ingest/imagery-service.js';
import { trackerService } from '../tracker/service.js';
import { gatewayService } from '../gateway/service.js';
import { tileService } from '../tile/service.js';

export interface RoleSpec {
  /** Work queues a host of this role consumes when it has task handlers. */
  queues: QueueName[];
  /** Built-in task handlers, by task kind. */
  handlers: Record<string, TaskHandler<TSchema>>;
  /**
   * Shard kinds (lease key prefixes) a host of this role competes for; the
   * entities of a shard activate on the host holding its lease.
   */
  shardKinds: string[];
  /** Entity kinds with a behaviour built in (activated per owned shard). */
  entityKinds: string[];
  /** Long-running services of this role (services.ts), started in order. */
  services: RoleService[];
  /** One line for operators: what this role is for. */
  summary: string;
}

export const ROLE_SPECS: Record<Role, RoleSpec> = {
  worker: {
    queues: ['high', 'satellite', 'weather'],
    handlers: {},
    shardKinds: [],
    entityKinds: [],
    services: [],
    summary: 'runs tasks from the three priority work queues',
  },
  tracker: {
    queues: [],
    handlers: {},
    // The tracker service creates its own `tracker` ShardManager (ctx.shardManager).
    shardKinds: [],
    entityKinds: ['tracker'],
    services: [trackerService],
    summary: 'owns tracker shards (leases, fencing) and hosts their satellite entities',
  },
  tile: {
    // Scene and tile tasks come on weather (or high for priority items); storm warnings on high.
    queues: ['weather', 'high'],
    handlers: {},
    shardKinds: [],
    entityKinds: [],
    // The tile service registers imagery.scene, imagery.tile, imagery.finalize and storm.warning.
    services: [tileService],
    summary: 'runs the imagery tile pipeline: scenes cut into tiles, L1 → L2 → L3 per tile, merged outputs (metrics, storm warnings, products)',
  },
  ingest: {
    queues: [],
    handlers: {},
    shardKinds: [],
    entityKinds: [],
    services: [ingestService, imageryIngestService],
    summary: 'fetches element sets and weather imagery and enqueues their processing',
  },
  gateway: {
    queues: [],
    handlers: {},
    shardKinds: [],
    entityKinds: [],
    services: [gatewayService],
    summary: 'serves the HTTP API, websocket, /health and /metrics',
  },
};

export function roleSpec(role: Role): RoleSpec {
  const spec = ROLE_SPECS[role];
  if (!spec) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `unknown role ${JSON.stringify(role)}`);
  return spec;
}
