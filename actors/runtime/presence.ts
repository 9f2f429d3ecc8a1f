/**
 * Peer presence: a host probes the other hosts of its role and buries one
 * whose bus connection is gone, so a node that crashed whole (supervisor and
 * hosts together: nobody left to bury them, supervisor/burial.ts) loses its
 * shards in about `confirmMs` instead of the member TTL plus the lease.
 *
 * Why this cannot kill a busy host (issue 10: busy is not dead): a probe is
 * a core NATS request to the peer's own presence subject. NATS answers "no
 * responders" at once only when no connection holds that subscription,
 * which happens when the peer's process has exited (its socket closed) or
 * its connection dropped. A host that is busy, stalled or SIGSTOPped keeps
 * its connection, so its probes time out ('unknown'), and unknown never
 * counts. A host that merely reconnects (its NATS server died) is absent
 * for the moment it takes to reach another server, far under `confirmMs`.
 *
 * A peer is buried when every probe for `confirmMs` (and at least
 * MIN_ABSENT of them) said absent while we stayed connected, and its member
 * record still has the revision it had at the first absent answer: a
 * rewrite in between means it is alive after all.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../protocol/errors.js';
import type { Names } from '../../protocol/names.js';
import type { Subscription, Transport } from '../../protocol/transport.js';
import { buryHost } from './burial.js';
import { clusterMetrics } from './cluster-metrics.js';
import { memberKey, type Membership } from './membership.js';
import type { Metrics } from './metrics.js';

/** Absent answers needed besides the time: a burial never rests on one or two probes. */
const MIN_ABSENT = 3;
/** A peer just buried is not probed again for this long (its record may linger in a view). */
const BURIED_QUIET_MS = 30_000;

export interface PeerPresenceOptions {
  transport: Pick<Transport, 'probePresence' | 'kv'>;
  names: Names;
  membership: Pick<Membership, 'role' | 'hostId' | 'watch'>;
  /** How long a peer must be seen absent before it is buried (cluster.presenceConfirmMs). */
  confirmMs: number;
  /** Probe period; also each probe's timeout. Default: a quarter of confirmMs, at most 500 ms. */
  intervalMs?: number;
  logger: Logger;
  metrics?: Metrics;
  clock?: () => number;
}

interface Suspect {
  /** When the first absent probe was sent (clock()). */
  since: number;
  absent: number;
  /** The member record's revision at the first absent answer; null: no record; undefined: not read yet. */
  revision: number | null | undefined;
}

export class PeerPresence {
  private readonly o: PeerPresenceOptions;
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private peers: string[] = [];
  private readonly suspects = new Map<string, Suspect>();
  private readonly buriedAt = new Map<string, number>();
  private sub: Subscription | null = null;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(o: PeerPresenceOptions) {
    this.o = o;
    this.intervalMs = o.intervalMs ?? Math.max(50, Math.min(500, Math.floor(o.confirmMs / 4)));
    this.clock = o.clock ?? (() => performance.now());
    // Registered now, so /metrics shows 0 burials rather than nothing.
    if (o.metrics) clusterMetrics(o.metrics);
  }

  async start(): Promise<void> {
    const self = this.o.membership.hostId;
    this.sub = await this.o.membership.watch(this.o.membership.role, (members) => {
      this.peers = members.map((m) => m.hostId).filter((id) => id !== self);
      for (const id of this.suspects.keys()) if (!this.peers.includes(id)) this.suspects.delete(id);
    });
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.sub?.unsubscribe();
    await this.round;
  }

  private schedule(): void {
    if (this.stopped) return;
    // The next round is timed from the end of this one: rounds never overlap.
    this.timer = setTimeout(() => {
      this.round = this.probeAll().catch((err: unknown) => this.o.logger.warn({ error: errorMessage(err) }, 'presence round failed'));
      void this.round.then(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref?.();
  }

  private async probeAll(): Promise<void> {
    const now = this.clock();
    for (const [id, at] of this.buriedAt) if (now - at > BURIED_QUIET_MS) this.buriedAt.delete(id);
    await Promise.all(this.peers.filter((id) => !this.buriedAt.has(id)).map((id) => this.probe(id)));
  }

  private async probe(hostId: string): Promise<void> {
    const sentAt = this.clock();
    const answer = await this.o.transport.probePresence(this.o.names.subjects.hostPresence(hostId), this.intervalMs);
    if (this.stopped || !this.peers.includes(hostId)) return;
    if (answer !== 'absent') {
      this.suspects.delete(hostId);
      return;
    }
    let s = this.suspects.get(hostId);
    if (!s) {
      s = { since: sentAt, absent: 0, revision: undefined };
      this.suspects.set(hostId, s);
      s.revision = await this.memberRevision(hostId);
    }
    s.absent++;
    if (s.revision === undefined || s.absent < MIN_ABSENT || this.clock() - s.since < this.o.confirmMs) return;
    await this.bury(hostId, s);
  }

  /** The peer's member record revision; undefined when it could not be read (then nothing is buried). */
  private async memberRevision(hostId: string): Promise<number | null | undefined> {
    try {
      const entry = await (await this.o.transport.kv('members')).get(memberKey(this.o.membership.role, hostId));
      return entry?.revision ?? null;
    } catch {
      return undefined;
    }
  }

  private async bury(hostId: string, s: Suspect): Promise<void> {
    const role = this.o.membership.role;
    const now = await this.memberRevision(hostId);
    if (now === undefined) return; // the store is not answering: try again next round
    if (now !== null && now !== s.revision) {
      // Rewritten since it was first absent: alive (a reconnect), not gone.
      this.suspects.delete(hostId);
      return;
    }
    try {
      const leases = await buryHost(this.o.transport, role, hostId, { logger: this.o.logger, ...(now === null ? {} : { memberRevision: now }) });
      this.suspects.delete(hostId);
      this.buriedAt.set(hostId, this.clock());
      if (this.o.metrics) clusterMetrics(this.o.metrics).hostBurials.inc({ role, cause: 'presence' });
      this.o.logger.warn(
        { peer: hostId, leases: leases.length, absentMs: Math.round(this.clock() - s.since), probes: s.absent },
        'peer host gone (its bus connection closed): buried, its leases given back',
      );
    } catch (err) {
      this.o.logger.warn({ peer: hostId, error: errorMessage(err) }, 'could not bury a gone peer; trying again next round, or its records expire');
    }
  }
}
