/** A real ws client for gateway tests: JSON messages and decoded binary state frames, collected. */
import WebSocket from 'ws';
import { decodeTrackerFrame, STATE_STRIDE } from '../../protocol/frames/tracker-state.js';
import { S_LAT_DEG, S_LON_DEG } from '../../actors/tracker/propagate.js';

export interface Frame {
  tickMs: number;
  ids: number[];
  lat: Map<number, number>;
  lon: Map<number, number>;
  flags: Map<number, number>;
  /** The gateway's flush seq (the header's reserved u32 at offset 20). */
  seq: number;
  bytes: Buffer;
}

/** Everything received, in arrival order: JSON messages by type, frames by tick. */
export type Arrival = { kind: 'json'; type: string; msg: any } | { kind: 'frame'; tickMs: number; seq: number };

export class Client {
  readonly ws: WebSocket;
  readonly json: any[] = [];
  readonly frames: Frame[] = [];
  readonly arrivals: Arrival[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
    this.opened.catch(() => undefined);
    this.ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      if (!isBinary) {
        const msg = JSON.parse(buf.toString('utf8'));
        this.json.push(msg);
        this.arrivals.push({ kind: 'json', type: msg.type, msg });
        return;
      }
      const f = decodeTrackerFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      const ids = [...f.columns.ids];
      const lat = new Map<number, number>();
      const lon = new Map<number, number>();
      const flags = new Map<number, number>();
      ids.forEach((id, k) => {
        lat.set(id, f.columns.values[k * STATE_STRIDE + S_LAT_DEG]!);
        lon.set(id, f.columns.values[k * STATE_STRIDE + S_LON_DEG]!);
        flags.set(id, f.columns.flags[k]!);
      });
      const seq = buf.readUInt32LE(20);
      this.frames.push({ tickMs: f.tickMs, ids, lat, lon, flags, seq, bytes: Buffer.from(buf) });
      this.arrivals.push({ kind: 'frame', tickMs: f.tickMs, seq });
    });
    this.ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    this.ws.on('error', () => undefined);
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  async next(type: string, from = 0, timeoutMs = 10_000): Promise<any> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const m = this.json.slice(from).find((x) => x.type === type);
      if (m) return m;
      await sleep(20);
    }
    throw new Error(`no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(this.json)}`);
  }

  close(): void {
    this.ws.terminate();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

