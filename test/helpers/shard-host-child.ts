/**
 * A shard host as a real child process, for the chaos tests (not a test
 * file). It joins the cluster on NATS (Membership + LeaseManager +
 * ShardManager for kind `tracker`), raises each acquired shard's fence
 * (`fence.tracker.<shard>` in the shards bucket) before reporting it, and
 * reports every ownership change to its parent over IPC, with a timestamp:
 *
 *   { type: 'ready', hostId, pid, at }
 *   { type: 'acquire', hostId, shard, token, at }      after the fence is raised
 *   { type: 'release', hostId, shard, reason, at }     first thing in onRelease
 *
 * Commands from the parent:
 *   { cmd: 'write-stale', shards }  for each shard, with the LAST lease this
 *       host held on it (even if released since), check the lease locally and
 *       whether the manager still owns it, then attempt a fenced write with
 *       that lease's token anyway; answers { type: 'stale-result', results }.
 *   { cmd: 'stop' }                 release everything, leave, exit 0.
 *
 * Config: JSON in env SW_SHARD_HOST (servers, namespace, hostId, shardCount,
 * leaseMs, heartbeatMs, memberTtlMs).
 */
import { FencedError, errorMessage } from '../../protocol/errors.js';
import { names } from '../../protocol/names.js';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { createLogger } from '../../actors/runtime/log.js';
import { Membership } from '../../actors/runtime/membership.js';
import { LeaseManager, type Lease } from '../../actors/runtime/lease.js';
import { ShardManager } from '../../actors/runtime/sharding.js';
import { FencedStore } from '../../actors/runtime/fencing.js';

interface ChildConfig {
  servers: string;
  namespace: string;
  hostId: string;
  shardCount: number;
  leaseMs: number;
  heartbeatMs: number;
  memberTtlMs: number;
}

function send(msg: Record<string, unknown>): void {
  if (process.send) process.send(msg);
  else process.stdout.write(`${JSON.stringify(msg)}\n`);
}

const cfg = JSON.parse(process.env.SW_SHARD_HOST ?? '{}') as ChildConfig;
const logger = createLogger({ nodeId: cfg.hostId, role: 'tracker', level: 'warn', destination: 2 });
const transport = await connectNats({ servers: cfg.servers, names: names(cfg.namespace), name: cfg.hostId });
const members = await transport.kv('members');
const leaseBucket = await transport.kv('leases');
const fence = new FencedStore({ bucket: await transport.kv('shards'), logger });
const membership = new Membership({ bucket: members, role: 'tracker', hostId: cfg.hostId, nodeId: 'chaos', heartbeatMs: cfg.heartbeatMs, memberTtlMs: cfg.memberTtlMs, logger });
const leases = new LeaseManager({ bucket: leaseBucket, holder: cfg.hostId, leaseMs: cfg.leaseMs, logger });
/** The last lease held on each shard, kept after release so the test can replay a stale write. */
const lastLease = new Map<number, Lease>();

const fenceKey = (shard: number): string => `fence.tracker.${shard}`;

const shards = new ShardManager({
  kind: 'tracker',
  shardCount: cfg.shardCount,
  membership,
  leases,
  leaseBucket,
  logger,
  onAcquire: async (shard, lease) => {
    lastLease.set(shard, lease);
    try {
      // Fence out the previous holder before anything is done on the shard.
      await fence.claim(fenceKey(shard), lease.revision);
    } catch (err) {
      logger.warn({ shard, error: errorMessage(err) }, 'fence claim failed');
    }
    send({ type: 'acquire', hostId: cfg.hostId, shard, token: lease.revision, at: Date.now() });
  },
  onRelease: (shard, reason) => {
    send({ type: 'release', hostId: cfg.hostId, shard, reason, at: Date.now() });
  },
});

// Keep the newest lease per shard (renewals raise the token).
setInterval(() => {
  for (const shard of shards.ownedShards()) {
    const l = shards.leaseOf(shard);
    if (l) lastLease.set(shard, l);
  }
}, Math.max(50, Math.floor(cfg.leaseMs / 6))).unref();

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await shards.stop();
    await membership.leave();
    await transport.close();
  } catch (err) {
    logger.error({ error: errorMessage(err) }, 'stop failed');
    code = 1;
  }
  process.exit(code);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { cmd?: string; shards?: number[] };
  if (msg.cmd === 'stop') {
    void stop(0);
    return;
  }
  if (msg.cmd === 'write-stale') {
    const at = Date.now();
    // Synchronous checks first, exactly as an entity would make them before acting.
    const checks = (msg.shards ?? []).map((shard) => {
      const lease = lastLease.get(shard);
      return { shard, lease, leaseValid: lease ? lease.isValid() : null, ownsNow: shards.owns(shard) };
    });
    void Promise.all(
      checks.map(async ({ shard, lease, leaseValid, ownsNow }) => {
        if (!lease) return { shard, leaseValid, ownsNow, token: null, write: 'no-lease' };
        try {
          await fence.write(fenceKey(shard), new TextEncoder().encode(`stale write from ${cfg.hostId}`), lease.revision);
          return { shard, leaseValid, ownsNow, token: lease.revision, write: 'ok' };
        } catch (err) {
          return { shard, leaseValid, ownsNow, token: lease.revision, write: err instanceof FencedError ? 'fenced' : `error: ${errorMessage(err)}` };
        }
      }),
    ).then((results) => send({ type: 'stale-result', hostId: cfg.hostId, at, results }));
  }
});
process.on('SIGTERM', () => void stop(0));
// The parent is gone (it was killed): do not linger as an orphan.
process.on('disconnect', () => void stop(0));

await membership.join();
await shards.start();
send({ type: 'ready', hostId: cfg.hostId, pid: process.pid, at: Date.now() });
