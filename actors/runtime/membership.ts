/**
 * Cluster membership on the members KV bucket. Each actor host writes its own
 * record under `<role>.<hostId>` (MemberMessage) and rewrites it every
 * heartbeat with `expiresAt = now + memberTtlMs`. NATS 2.9 has no KV TTL, so
 * a record is live only while its own `expiresAt` is in the future: a host
 * killed with SIGKILL leaves its record behind, and readers ignore it once
 * expired. That is also why `watch` re-evaluates its view on a timer: the
 * expiry of a dead host produces no KV event at all.
 */
import { StarWeatherError, errorCode, errorMessage } from '../../protocol/errors.js';
import type { KvBucket, Subscription } from '../../protocol/transport.js';
import { MemberMessage, ROLES, type Member, type Role } from '../../protocol/messages/cluster.js';
import { performance } from 'node:perf_hooks';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { clusterMetrics, countMalformed } from './cluster-metrics.js';
import { loopPauses, type PauseTracker } from './pause.js';
import { isTransientError } from './transient.js';

/** How long a first member write that fails transiently is retried. */
const JOIN_RETRY_MS = 15_000;
/**
 * A member record expired this long ago belongs to a dead host, outage or
 * not: it is never excused, and a proven member deletes it (compare-and-set),
 * since NATS 2.9 KV has no TTL to do that.
 */
const GHOST_AFTER_MS = 30_000;

/** Host ids become one KV key token: no dots, nothing NATS would reject. */
const HOST_ID_RE = /^[-\w=]{1,200}$/;

export function isValidHostId(hostId: unknown): hostId is string {
  return typeof hostId === 'string' && HOST_ID_RE.test(hostId);
}

export function memberKey(role: Role, hostId: string): string {
  return `${role}.${hostId}`;
}

/**
 * Live (unexpired) members among `records`, sorted by hostId. `excused`
 * keeps a record whose expiry we may only have missed hearing about (it fell
 * in a pause of our own loop, see pause.ts).
 */
function liveOf(records: Iterable<{ member: Member | null }>, now: number, excused: (m: Member) => boolean = () => false): Member[] {
  const live: Member[] = [];
  for (const { member } of records) if (member !== null && (member.expiresAt > now || excused(member))) live.push(member);
  return live.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
}

export interface MembershipOptions {
  bucket: KvBucket;
  role: Role;
  hostId: string;
  nodeId: string;
  heartbeatMs: number;
  memberTtlMs: number;
  logger?: Logger;
  metrics?: Metrics;
  /** Wall clock (ms since the epoch). */
  clock?: () => number;
  /** Where pauses of this thread's loop are recorded (default: the thread's shared tracker). */
  pauses?: PauseTracker;
}

export interface MembershipStats {
  heartbeats: number;
  heartbeatErrors: number;
  /** Member records that failed to decode (each key and revision counted once). */
  malformed: number;
  scans: number;
  scanErrors: number;
}

export type MembersListener = (members: Member[]) => void;

export class Membership {
  readonly role: Role;
  readonly hostId: string;
  readonly nodeId: string;
  readonly key: string;
  readonly heartbeatMs: number;
  readonly memberTtlMs: number;
  readonly stats: MembershipStats = { heartbeats: 0, heartbeatErrors: 0, malformed: 0, scans: 0, scanErrors: 0 };
  private readonly bucket: KvBucket;
  private readonly logger: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly clock: () => number;
  private readonly startedAt: number;
  private draining = false;
  private joined = false;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | null = null;
  /** `key@revision` of malformed records already logged, so a re-scan does not repeat them. */
  private readonly seenMalformed = new Set<string>();
  /** Wall time of our last successful heartbeat write. */
  private lastHeartbeatAt = 0;
  /** Our record as last written: we are always in our own view while joined and not draining. */
  private lastRecord: Member | null = null;
  private readonly pauses: PauseTracker;
  /** performance.now() at which our writes started succeeding without a failure since (null: the last one failed). */
  private busOkSince: number | null = null;
  /** performance.now() at which the write in flight was sent (null: none). */
  private writeSentAt: number | null = null;
  /** Wall time of our last good write before the bus stopped being proven (or of our join); null once proven. */
  private outageAnchor: number | null = null;

  constructor(options: MembershipOptions) {
    if (!ROLES.includes(options.role)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `unknown role ${JSON.stringify(options.role)}; one of ${ROLES.join(', ')}`);
    if (!isValidHostId(options.hostId)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `hostId must match ${HOST_ID_RE} (got ${JSON.stringify(options.hostId)})`);
    if (typeof options.nodeId !== 'string' || options.nodeId.length < 1 || options.nodeId.length > 200) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'nodeId must be a string of 1 to 200 characters');
    }
    if (!Number.isSafeInteger(options.heartbeatMs) || options.heartbeatMs < 10) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `heartbeatMs must be an integer >= 10 (got ${String(options.heartbeatMs)})`);
    // A TTL at or below the heartbeat would make a healthy host flap.
    if (!Number.isSafeInteger(options.memberTtlMs) || options.memberTtlMs <= options.heartbeatMs) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `memberTtlMs must be an integer > heartbeatMs (got ${String(options.memberTtlMs)})`);
    }
    this.bucket = options.bucket;
    this.role = options.role;
    this.hostId = options.hostId;
    this.nodeId = options.nodeId;
    this.key = memberKey(options.role, options.hostId);
    this.heartbeatMs = options.heartbeatMs;
    this.memberTtlMs = options.memberTtlMs;
    this.logger = options.logger ?? createLogger({ nodeId: options.nodeId, role: options.role, level: 'warn', destination: 2 });
    this.metrics = options.metrics;
    this.clock = options.clock ?? Date.now;
    this.startedAt = this.clock();
    this.pauses = options.pauses ?? loopPauses;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * How long our own member writes have been getting through without a
   * failure (a write in flight for longer than a heartbeat counts as
   * failing); 0 while they do not.
   */
  private busProvenMs(nowMono: number): number {
    if (this.writeSentAt !== null && nowMono - this.writeSentAt > this.heartbeatMs) return 0;
    return this.busOkSince === null ? 0 : nowMono - this.busOkSince;
  }

  /** True while our own record, as last written, has not expired. */
  isLive(now: number = this.clock()): boolean {
    return this.joined && this.lastHeartbeatAt + this.memberTtlMs > now;
  }

  /**
   * Write our record, then keep it fresh every heartbeatMs. A first write
   * that fails transiently (a bucket just created on a cluster, an election)
   * is retried for up to `JOIN_RETRY_MS`; anything else, or a failure past
   * that, throws.
   */
  async join(): Promise<void> {
    if (this.joined) return;
    // Records that expired before we joined are not excused by our own first TTL.
    this.outageAnchor = this.clock();
    const giveUpAt = performance.now() + JOIN_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writeRecord();
        break;
      } catch (err) {
        if (!isTransientError(err) || errorCode(err) === 'SW_ERR_CLOSED' || performance.now() >= giveUpAt) throw err;
        this.logger.warn({ key: this.key, attempt, error: errorMessage(err) }, 'could not write the member record yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
    this.joined = true;
    this.scheduleHeartbeat();
  }

  /** Mark ourselves draining: peers stop routing new shards to us. */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.joined) await this.heartbeat();
  }

  /** Stop heartbeating and delete our record, so peers see the leave at once. */
  async leave(): Promise<void> {
    const wasJoined = this.joined;
    this.joined = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.beating;
    if (!wasJoined) return;
    try {
      await this.bucket.delete(this.key);
    } catch (err) {
      // Not fatal: the record expires on its own after memberTtlMs.
      this.logger.warn({ key: this.key, error: errorMessage(err) }, 'could not delete member record on leave');
    }
  }

  /** Live members of `role` (records whose own expiresAt is in the future), sorted by hostId. */
  async liveMembers(role: Role = this.role): Promise<Member[]> {
    const records = await this.listRecords(role);
    return liveOf(records.values(), this.clock());
  }

  /**
   * Call `onChange` with the live members of `role` now and whenever the set
   * (or a member's draining flag) changes. The view is kept from the KV watch
   * (joins, heartbeats, drains and leaves arrive at once) and liveness is
   * re-evaluated locally every `rescanMs` (default heartbeatMs), because the
   * expiry of a dead host produces no KV event at all. A full listing every
   * `resyncMs` (default 10 heartbeats, at least 2 s) repairs anything a watch
   * may have missed across a reconnect; listings are bounded in time, since
   * on NATS 2.9 a key listing under heavy writes can take many seconds.
   */
  async watch(role: Role, onChange: MembersListener, rescanMs: number = this.heartbeatMs, resyncMs: number = Math.max(2000, this.heartbeatMs * 10)): Promise<Subscription> {
    if (!ROLES.includes(role)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `unknown role ${JSON.stringify(role)}`);
    const prefix = `${role}.`;
    const view = new Map<string, { member: Member; revision: number; seenAt: number }>();
    let active = true;
    let signature: string | null = null;
    let lastResync = 0;
    let resyncing = false;
    let timer: NodeJS.Timeout | undefined;

    const evaluate = (): void => {
      if (!active) return;
      const now = this.clock();
      // Grace for records that expired while our own loop was not running:
      // their refreshes may still be waiting to be read. Two heartbeats after
      // the pause every live peer has been heard from again.
      const graceMs = 2 * this.heartbeatMs;
      // A member's silence proves nothing while the bus would not take our
      // own writes either (a JetStream election: nobody can heartbeat): a
      // joined host removes an expired peer only once its own heartbeats have
      // been getting through for a whole TTL, time in which a live peer has
      // rewritten its record. Without this, every host of a role drops every
      // other one during an election and rebalances onto itself (issue 11).
      // Only records that expired after our bus stopped being proven (or
      // after we joined) are excused, and not for longer than
      // GHOST_AFTER_MS: a record that expired while our own writes got
      // through is a dead host's, whatever happens later.
      const busProven = this.busProvenMs(performance.now()) >= this.memberTtlMs;
      if (busProven) this.outageAnchor = null;
      const anchor = this.outageAnchor ?? this.lastHeartbeatAt;
      const outageExcuse = (m: Member): boolean => role === this.role && this.joined && !busProven && m.expiresAt >= anchor && now - m.expiresAt < GHOST_AFTER_MS;
      const excused = (m: Member): boolean => outageExcuse(m) || this.pauses.coveredBy(performance.now() - (now - m.expiresAt), graceMs);
      const members = liveOf(view.values(), now, excused);
      // A host never drops itself from its own view while it is a member: a
      // late write of our own record (a slow bus, a pause) must not make us
      // give up every shard we hold.
      const self = this.lastRecord;
      if (role === this.role && self !== null && this.joined && !this.draining && !members.some((m) => m.hostId === this.hostId)) {
        members.push({ ...self, expiresAt: Math.max(self.expiresAt, now + 1) });
        members.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
      }
      const next = members.map((m) => `${m.hostId}${m.draining ? '!' : ''}`).join(',');
      if (next === signature) return;
      signature = next;
      try {
        onChange(members);
      } catch (err) {
        this.logger.error({ role, error: errorMessage(err) }, 'membership listener threw');
      }
    };
    const apply = (key: string, member: Member | null, revision: number, seenAt: number): void => {
      const cur = view.get(key);
      if (cur && cur.revision > revision) return;
      if (member === null) view.delete(key);
      else view.set(key, { member, revision, seenAt });
    };
    const resync = async (): Promise<void> => {
      if (resyncing || !active) return;
      resyncing = true;
      const startedAt = performance.now();
      let timeout: NodeJS.Timeout | undefined;
      const listing = this.listRecords(role);
      // If the listing is abandoned below, its late failure must not surface as unhandled.
      listing.catch(() => undefined);
      try {
        const records = await Promise.race([
          listing,
          new Promise<never>((_, reject) => {
            timeout = setTimeout(() => reject(new StarWeatherError('SW_ERR_TIMEOUT', `member listing took longer than ${resyncMs} ms`)), resyncMs);
          }),
        ]);
        if (!active) return;
        for (const [key, rec] of records) apply(key, rec.member, rec.revision, performance.now());
        if (this.joined && this.busProvenMs(performance.now()) >= this.memberTtlMs) void this.deleteGhosts(records);
        // Keys the listing did not return are gone, unless the watch refreshed them meanwhile.
        for (const [key, rec] of view) if (!records.has(key) && rec.seenAt < startedAt) view.delete(key);
        lastResync = performance.now();
      } catch (err) {
        this.stats.scanErrors++;
        this.logger.warn({ role, error: errorMessage(err) }, 'member listing failed; keeping the watched view');
      } finally {
        clearTimeout(timeout);
        resyncing = false;
      }
      evaluate();
    };

    const sub = await this.bucket.watch((change) => {
      if (!active || !change.key.startsWith(prefix)) return;
      apply(change.key, change.value === null ? null : this.decodeMember(role, change.key, change.value, change.revision), change.revision, performance.now());
      evaluate();
    }, prefix);
    try {
      // Watch first, list second: a change between the two is not lost.
      // The first listing must succeed: a view that starts empty would hand
      // every shard to us alone.
      for (let attempt = 0; lastResync === 0; attempt++) {
        if (attempt === 5) throw new StarWeatherError('SW_ERR_TIMEOUT', `could not list the ${role} members after ${attempt} attempts`);
        await resync();
      }
    } catch (err) {
      active = false;
      sub.unsubscribe();
      throw err;
    }
    this.pauses.retain();
    const loop = (): void => {
      timer = setTimeout(() => {
        if (!active) return;
        evaluate();
        if (performance.now() - lastResync >= resyncMs) void resync();
        loop();
      }, rescanMs);
    };
    loop();
    return {
      unsubscribe: () => {
        if (active) this.pauses.release();
        active = false;
        if (timer) clearTimeout(timer);
        sub.unsubscribe();
      },
    };
  }

  /** Delete records expired for GHOST_AFTER_MS (a dead host nobody buried), each by compare-and-set on the revision listed. */
  private async deleteGhosts(records: Map<string, { member: Member | null; revision: number }>): Promise<void> {
    const now = this.clock();
    for (const [key, rec] of records) {
      if (rec.member === null || key === this.key || now - rec.member.expiresAt < GHOST_AFTER_MS) continue;
      try {
        await this.bucket.delete(key, rec.revision);
        this.logger.info({ key, expiredMsAgo: now - rec.member.expiresAt }, 'deleted the member record of a host long gone');
      } catch {
        // Rewritten (it lives after all) or deleted by someone else: nothing to do.
      }
    }
  }

  /** Every record under `<role>.`, newest per key; malformed ones map to a null member. */
  private async listRecords(role: Role): Promise<Map<string, { member: Member | null; revision: number }>> {
    const prefix = `${role}.`;
    const entries = await this.bucket.entries(prefix);
    this.stats.scans++;
    const out = new Map<string, { member: Member | null; revision: number }>();
    for (const entry of entries) {
      // Filter again: the prefix is a hint to the transport, not a promise.
      if (!entry.key.startsWith(prefix)) continue;
      // One entry per key, the newest: a listing taken while hosts heartbeat
      // can report a key twice (seen with NATS KV key listings).
      const seen = out.get(entry.key);
      if (seen && seen.revision >= entry.revision) continue;
      out.set(entry.key, { member: this.decodeMember(role, entry.key, entry.value, entry.revision), revision: entry.revision });
    }
    return out;
  }

  /** The member a record describes, or null when it is malformed or under the wrong key (logged and counted once). */
  private decodeMember(role: Role, key: string, value: Uint8Array, revision: number): Member | null {
    try {
      const member = MemberMessage.decode(value);
      if (member.role === role && key === memberKey(role, member.hostId)) return member;
      throw new StarWeatherError('SW_ERR_SCHEMA', `record for ${member.role}.${member.hostId} stored under ${key}`);
    } catch (err) {
      const seen = `${key}@${revision}`;
      if (!this.seenMalformed.has(seen)) {
        if (this.seenMalformed.size > 10_000) this.seenMalformed.clear();
        this.seenMalformed.add(seen);
        this.stats.malformed++;
        countMalformed(this.metrics, 'kv.members', err);
        this.logger.warn({ key, revision, reason: errorMessage(err) }, 'malformed member record; treating it as absent');
      }
      return null;
    }
  }

  private scheduleHeartbeat(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.heartbeat().finally(() => {
        if (this.joined && this.timer === undefined) this.scheduleHeartbeat();
      });
    }, this.heartbeatMs);
  }

  private async heartbeat(): Promise<void> {
    // One write at a time: a slow write must not be overtaken by the next one.
    while (this.beating) await this.beating;
    if (!this.joined) return;
    this.beating = this.writeRecord().catch((err: unknown) => {
      this.stats.heartbeatErrors++;
      if (this.metrics) clusterMetrics(this.metrics).memberHeartbeatErrors.inc({ role: this.role });
      this.logger.warn({ key: this.key, error: errorMessage(err) }, 'membership heartbeat failed');
    });
    try {
      await this.beating;
    } finally {
      this.beating = null;
    }
  }

  private async writeRecord(): Promise<void> {
    const now = this.clock();
    const member: Member = {
      v: 1,
      hostId: this.hostId,
      nodeId: this.nodeId,
      role: this.role,
      pid: process.pid,
      startedAt: this.startedAt,
      heartbeatAt: now,
      expiresAt: now + this.memberTtlMs,
      draining: this.draining,
    };
    const sentAt = performance.now();
    this.writeSentAt = sentAt;
    try {
      await this.bucket.put(this.key, MemberMessage.encode(member));
    } catch (err) {
      // The first failure since the bus was last proven fixes the anchor; later ones keep it.
      if (this.outageAnchor === null) this.outageAnchor = this.lastHeartbeatAt;
      this.busOkSince = null;
      throw err;
    } finally {
      this.writeSentAt = null;
    }
    this.busOkSince ??= sentAt;
    this.lastRecord = member;
    this.lastHeartbeatAt = now;
    this.stats.heartbeats++;
  }
}
