/**
 * Parent side of the shard-host chaos tests (not a test file): spawns
 * test/helpers/shard-host-child.js processes on one NATS namespace, records
 * their ownership reports, and checks them.
 *
 * Ownership of a shard by a host is the interval from its `acquire` report
 * to its `release` report; a host killed with SIGKILL sends nothing more, so
 * its intervals end at the moment the parent sent the signal.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { freshNamespace, NATS_URL, sleep } from './cluster-fixtures.js';
import { deleteNamespace } from '../integration/nats-fixtures.js';
import type { Names } from '../../protocol/names.js';

const CHILD = fileURLToPath(new URL('./shard-host-child.js', import.meta.url));

export interface HostReport {
  type: string;
  hostId: string;
  at: number;
  shard?: number;
  token?: number;
  reason?: string;
  results?: Array<Record<string, unknown>>;
}

export interface Interval {
  hostId: string;
  shard: number;
  from: number;
  /** Infinity while still open. */
  to: number;
}

export interface ClusterSettings {
  shardCount: number;
  leaseMs: number;
  heartbeatMs: number;
  memberTtlMs: number;
}

interface Child {
  hostId: string;
  proc: ChildProcess;
  stderr: string;
  exited: boolean;
}

export class ShardHostCluster {
  readonly names: Names;
  readonly settings: ClusterSettings;
  readonly reports: HostReport[] = [];
  readonly intervals: Interval[] = [];
  private readonly children = new Map<string, Child>();
  private readonly open = new Map<string, Interval>();
  private listeners: Array<(r: HostReport) => void> = [];

  private constructor(n: Names, settings: ClusterSettings) {
    this.names = n;
    this.settings = settings;
  }

  /** A fresh namespace with its streams and buckets provisioned. */
  static async create(settings: ClusterSettings): Promise<ShardHostCluster> {
    const n = freshNamespace();
    const t = await connectNats({ servers: NATS_URL, names: n });
    try {
      await t.provision();
    } finally {
      await t.close();
    }
    return new ShardHostCluster(n, settings);
  }

  start(hostId: string): Promise<void> {
    const env = {
      ...process.env,
      SW_SHARD_HOST: JSON.stringify({ servers: NATS_URL, namespace: this.names.namespace, hostId, ...this.settings }),
    };
    const proc = fork(CHILD, [], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const child: Child = { hostId, proc, stderr: '', exited: false };
    this.children.set(hostId, child);
    proc.stderr!.on('data', (d: Buffer) => {
      child.stderr = (child.stderr + d.toString()).slice(-20_000);
    });
    proc.on('exit', () => {
      child.exited = true;
    });
    proc.on('message', (m: unknown) => this.record(m as HostReport));
    return new Promise((resolve, reject) => {
      const onReady = (r: HostReport): void => {
        if (r.type === 'ready' && r.hostId === hostId) {
          this.listeners = this.listeners.filter((l) => l !== onReady);
          resolve();
        }
      };
      this.listeners.push(onReady);
      proc.once('exit', (code, signal) => reject(new Error(`${hostId} exited before ready (code ${code}, signal ${signal}): ${child.stderr}`)));
    });
  }

  pid(hostId: string): number {
    return this.children.get(hostId)!.proc.pid!;
  }

  stderr(hostId: string): string {
    return this.children.get(hostId)?.stderr ?? '';
  }

  /** SIGKILL: the host's open intervals end now, as it can report nothing more. */
  kill(hostId: string): number {
    const at = Date.now();
    this.children.get(hostId)!.proc.kill('SIGKILL');
    for (const [key, iv] of this.open) {
      if (iv.hostId === hostId) {
        iv.to = at;
        this.open.delete(key);
      }
    }
    return at;
  }

  signal(hostId: string, sig: NodeJS.Signals): void {
    this.children.get(hostId)!.proc.kill(sig);
  }

  send(hostId: string, msg: Record<string, unknown>): void {
    this.children.get(hostId)!.proc.send(msg);
  }

  /** The next report matching `pred` (from now on), or a timeout error. */
  next(pred: (r: HostReport) => boolean, timeoutMs: number, what: string): Promise<HostReport> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const listener = (r: HostReport): void => {
        if (!pred(r)) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        resolve(r);
      };
      this.listeners.push(listener);
    });
  }

  /** Shards each live host currently reports as owned. */
  owned(): Map<string, Set<number>> {
    const out = new Map<string, Set<number>>();
    for (const iv of this.open.values()) {
      const set = out.get(iv.hostId) ?? new Set<number>();
      set.add(iv.shard);
      out.set(iv.hostId, set);
    }
    return out;
  }

  /** True when every shard is owned by exactly one host right now. */
  everyShardOwnedOnce(): boolean {
    const count = new Array<number>(this.settings.shardCount).fill(0);
    for (const iv of this.open.values()) count[iv.shard]!++;
    return count.every((c) => c === 1);
  }

  /** Pairs of intervals in which two hosts claimed the same shard at the same time. */
  overlaps(): string[] {
    const byShard = new Map<number, Interval[]>();
    for (const iv of this.intervals) byShard.set(iv.shard, [...(byShard.get(iv.shard) ?? []), iv]);
    const out: string[] = [];
    for (const [shard, ivs] of byShard) {
      ivs.sort((a, b) => a.from - b.from);
      for (let i = 1; i < ivs.length; i++) {
        for (let j = 0; j < i; j++) {
          const a = ivs[j]!;
          const b = ivs[i]!;
          if (a.hostId !== b.hostId && b.from < a.to) out.push(`shard ${shard}: ${a.hostId} [${a.from}, ${a.to}) and ${b.hostId} [${b.from}, ${b.to})`);
        }
      }
    }
    return out;
  }

  async waitUntil(what: string, timeoutMs: number, cond: () => boolean): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      if (cond()) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; owned now: ${JSON.stringify([...this.owned()].map(([h, s]) => [h, s.size]))}`);
      await sleep(20);
    }
  }

  /** Kill every child still running and remove the namespace. Safe to call twice. */
  async destroy(): Promise<void> {
    for (const child of this.children.values()) {
      if (child.exited) continue;
      try {
        // SIGKILL also ends a SIGSTOPped child.
        child.proc.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(
      [...this.children.values()].map((c) => (c.exited ? Promise.resolve() : new Promise<void>((r) => c.proc.once('exit', () => r())))),
    );
    await deleteNamespace(NATS_URL, this.names);
  }

  private record(r: HostReport): void {
    this.reports.push(r);
    if (r.type === 'acquire' && r.shard !== undefined) {
      const key = `${r.hostId}/${r.shard}`;
      const iv: Interval = { hostId: r.hostId, shard: r.shard, from: r.at, to: Infinity };
      this.open.set(key, iv);
      this.intervals.push(iv);
    } else if (r.type === 'release' && r.shard !== undefined) {
      const key = `${r.hostId}/${r.shard}`;
      const iv = this.open.get(key);
      if (iv) {
        iv.to = r.at;
        this.open.delete(key);
      }
    }
    for (const l of [...this.listeners]) l(r);
  }
}
