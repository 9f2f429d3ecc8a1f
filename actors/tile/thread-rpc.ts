/**
 * Request/response over one worker thread, for the tile stages whose work is
 * one long synchronous call that cannot be sliced: the UNet's
 * onnxruntime-node session.run (onnxruntime-node runs a session on the
 * calling thread) and the scene decoders (h5wasm and the bzip2/HSD reader
 * are synchronous WASM/JS). On a worker they leave the host's event loop —
 * heartbeats, lease renewals, acks — free while they run (issue 10).
 *
 * Errors cross the thread as { name, code, message } and come back as the
 * project's error classes (the code is kept, so a caller's handling by code
 * is the same as in-thread). A worker that dies fails every pending call
 * with SW_ERR_HANDLER and marks the client dead; its owner starts a new one.
 */
import { parentPort, Worker, type TransferListItem } from 'node:worker_threads';
import { ImageryFormatError } from '../ingest/imagery-header.js';
import { ClosedError, StarWeatherError, type ErrorCode } from '../../protocol/errors.js';

export interface WireError {
  name: string;
  code: string | null;
  message: string;
}

export interface RpcRequest {
  id: number;
  method: string;
  args: unknown;
}

export type RpcReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, code: typeof code === 'string' ? code : null, message: err.message };
  }
  return { name: 'Error', code: null, message: String(err) };
}

/** A WireError back as the class its name says (the codes are the project's, so they are kept as given). */
export function fromWireError(e: WireError, where: string): Error {
  if (e.name === 'ImageryFormatError') return new ImageryFormatError(e.message);
  if (e.name === 'ClosedError') return new ClosedError(where);
  if (e.code !== null && e.code.startsWith('SW_ERR_')) {
    const err = new StarWeatherError(e.code as ErrorCode, e.message);
    // The worker's class name (CloudModelError …) survives for logs.
    err.name = e.name;
    return err;
  }
  return new StarWeatherError('SW_ERR_HANDLER', `${where}: ${e.name}: ${e.message}`);
}

export class ThreadClient {
  private readonly worker: Worker;
  private next = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private closing = false;
  private readonly unrefWhenIdle: boolean;
  /** Set once the worker has exited (crash, or close()). */
  dead: Error | null = null;

  /**
   * `unrefWhenIdle`: an idle thread does not keep the process alive (a
   * shared pool nobody closes); it is referenced while a call is pending, so
   * the process waits for the answer.
   */
  constructor(script: URL, what: string, workerData?: unknown, opts: { unrefWhenIdle?: boolean } = {}) {
    this.unrefWhenIdle = opts.unrefWhenIdle ?? false;
    this.worker = new Worker(script, { workerData });
    if (this.unrefWhenIdle) this.worker.unref();
    this.worker.on('message', (m: RpcReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.unrefWhenIdle && this.pending.size === 0) this.worker.unref();
      if (m.ok) p.resolve(m.value);
      else p.reject(fromWireError(m.error, what));
    });
    const fail = (reason: string): void => {
      if (this.dead) return;
      this.dead = this.closing ? new ClosedError(what) : new StarWeatherError('SW_ERR_HANDLER', `${what} worker thread ${reason}`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(`failed: ${err.message}`));
    this.worker.on('exit', (code) => fail(`exited with code ${code}`));
  }

  call<T>(method: string, args: unknown, transfer: readonly TransferListItem[] = []): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    if (this.unrefWhenIdle && this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const req: RpcRequest = { id, method, args };
      this.worker.postMessage(req, transfer as TransferListItem[]);
    });
  }

  /** Calls waiting for an answer. */
  get busy(): number {
    return this.pending.size;
  }

  /** Calls still pending fail with ClosedError; resolves once the thread is gone. */
  async close(): Promise<void> {
    if (this.dead) return;
    this.closing = true;
    await this.worker.terminate();
  }
}

/** What a worker-side handler returns: the value, and the buffers to move (not copy) back. */
export interface Served {
  value: unknown;
  transfer?: TransferListItem[];
}

/**
 * The worker side: answers each request with its handler's result, one at a
 * time in arrival order (the work is CPU-bound; the thread has nothing else to do).
 */
export function serve(handlers: Record<string, (args: never) => Promise<Served> | Served>): void {
  const port = parentPort;
  if (!port) throw new StarWeatherError('SW_ERR_HANDLER', 'serve() runs on a worker thread');
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: RpcRequest) => {
    chain = chain.then(async () => {
      let reply: RpcReply;
      let transfer: TransferListItem[] = [];
      try {
        const h = handlers[req.method];
        if (!h) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `no method ${req.method}`);
        const r = await h(req.args as never);
        reply = { id: req.id, ok: true, value: r.value };
        transfer = r.transfer ?? [];
      } catch (err) {
        reply = { id: req.id, ok: false, error: toWireError(err) };
      }
      port.postMessage(reply, transfer);
    });
  });
}
