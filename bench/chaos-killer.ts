/**
 * R9's fault injector for `npm run chaos` (bench/load.ts --chaos-every-s):
 * every period it SIGKILLs the next victim of a fixed rotation over the
 * cluster's nodes — one role host (found by role in the node's /health; its
 * supervisor restarts it) or a whole node (its process group: supervisor and
 * hosts together, as in a crash; restarted here after a pause, as a process
 * manager would). The gateway host is never a victim: its own websocket and
 * HTTP connections are what the run measures.
 */
import type { Role } from '../protocol/messages/cluster.js';

export interface ChaosNode {
  name: string;
  /** Where the node's /health is served. */
  base: string;
  /** SIGKILL the node's whole process group, then start it again (resolves once it answers /health). */
  crashAndRestart(): Promise<void>;
}

export type Victim = { node: number; role: Role } | { node: number; whole: true };

export interface ChaosEvent {
  at: number;
  what: string;
  ok: boolean;
  detail: string;
}

interface HealthHost {
  role: Role;
  pid: number | null;
  state: string;
  hostId: string;
}

export class ChaosKiller {
  readonly events: ChaosEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private turn = 0;
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly nodes: ChaosNode[],
    private readonly rotation: Victim[],
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.busy = this.busy.then(() => this.strike());
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
  }

  private async strike(): Promise<void> {
    const victim = this.rotation[this.turn++ % this.rotation.length]!;
    const node = this.nodes[victim.node]!;
    const at = Date.now();
    if ('whole' in victim) {
      try {
        await node.crashAndRestart();
        this.events.push({ at, what: `node ${node.name}`, ok: true, detail: `back after ${((Date.now() - at) / 1000).toFixed(1)} s` });
      } catch (err) {
        this.events.push({ at, what: `node ${node.name}`, ok: false, detail: (err as Error).message });
      }
      return;
    }
    const what = `${victim.role} host of ${node.name}`;
    try {
      const res = await fetch(`${node.base}/health`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { hosts?: HealthHost[] };
      const host = (body.hosts ?? []).find((h) => h.role === victim.role && h.state === 'running' && typeof h.pid === 'number' && h.pid !== process.pid);
      if (!host) {
        this.events.push({ at, what, ok: false, detail: 'no running host process of that role' });
        return;
      }
      process.kill(host.pid!, 'SIGKILL');
      this.events.push({ at, what, ok: true, detail: `${host.hostId} pid ${host.pid}` });
    } catch (err) {
      this.events.push({ at, what, ok: false, detail: (err as Error).message });
    }
  }
}
