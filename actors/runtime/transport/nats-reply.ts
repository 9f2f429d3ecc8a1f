/**
 * Request/reply for the two hot paths of the NATS transport: the JetStream
 * publish ack (enqueue) and the double ack (WorkMessage.ack). Same wire
 * protocol as the client's js.publish() and JsMsg.ackAck(): the message goes
 * out with a reply subject under one inbox, and the server answers there
 * once it has stored the message or applied the ack.
 *
 * Why not the client's own request(): at thousands of tasks/s it was a
 * quarter of our CPU. Each request allocates a RequestOne, a timer and a
 * deferred, and every settled request builds a RequestError("cancelled")
 * with a stack trace that nothing reads. Here a request is one map entry,
 * and one coarse timer expires them all.
 *
 * Timeouts have a granularity of SWEEP_MS. A reply that never comes (sent
 * while disconnected, server gone) ends in a TimeoutError, which the callers
 * treat as transient and retry (publishes keep their message id).
 */
import { createInbox, NoRespondersError, RequestError, TimeoutError, type MsgHdrs, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

const SWEEP_MS = 50;

interface Pending {
  resolve(m: Msg): void;
  reject(err: Error): void;
  subject: string;
  deadline: number;
}

export class ReplyMux {
  private readonly nc: NatsConnection;
  private prefix = '';
  private sub: Subscription | null = null;
  private readonly pending = new Map<string, Pending>();
  private next = 0;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(nc: NatsConnection) {
    this.nc = nc;
    // Subscribe now rather than on the first request: in a cluster, interest
    // reaches the other servers (where a stream leader may answer) a moment
    // after the SUB, and a reply sent before that is lost (a timeout, then a retry).
    this.ensureSub();
  }

  /** Subscribes (again after a subscription error). */
  private ensureSub(): void {
    if (this.sub && !this.sub.isClosed()) return;
    this.prefix = `${createInbox()}.`;
    const prefixLen = this.prefix.length;
    this.sub = this.nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (err) {
          // A subscription error (e.g. a permission violation) ends the
          // subscription: fail what waits on it; the next request resubscribes.
          this.failAll(err);
          this.sub = null;
          return;
        }
        const token = msg.subject.slice(prefixLen);
        const p = this.pending.get(token);
        if (!p) return; // timed out already
        this.pending.delete(token);
        if (msg.data.length === 0 && msg.headers?.code === 503) {
          p.reject(new RequestError(`no responders: '${p.subject}'`, { cause: new NoRespondersError(p.subject) }));
        } else {
          p.resolve(msg);
        }
      },
    });
  }

  /** Publishes `data` to `subject` and resolves with the reply. */
  request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    this.ensureSub();
    const token = (this.next++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, subject, deadline: Date.now() + timeoutMs });
      try {
        this.nc.publish(subject, data, headers ? { reply: this.prefix + token, headers } : { reply: this.prefix + token });
      } catch (err) {
        this.pending.delete(token);
        reject(err as Error);
        return;
      }
      if (!this.sweeper) {
        this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
        this.sweeper.unref();
      }
    });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(token);
        p.reject(new TimeoutError());
      }
    }
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Fails every pending request with `err` and stops. */
  close(err: Error): void {
    this.failAll(err);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
    this.sub = null;
  }
}
