/**
 * The dashboard's websocket to the gateway (GET /ws, protocol/messages/ws.ts):
 * subscribes to every object plus the alert and cluster channels, decodes
 * the binary tracker-state frames with the protocol's own decoder, and
 * reconnects with backoff, resuming its session (states changed since the
 * last frame seq it saw) when the gateway still has it.
 */
import { decodeTrackerFrame } from '../../../../protocol/frames/tracker-state.js';
import type { ClusterView, WsServerMessage } from '../../../../protocol/messages/ws.js';
import type { StateStore } from './state-store.js';

export type AlertEvent = Extract<WsServerMessage, { type: 'alert' }>;

export interface LiveHandlers {
  onAlert(a: AlertEvent): void;
  onCluster(v: ClusterView): void;
  onStatus(text: string, ok: boolean): void;
}

/** The gateway writes its flush seq into the frame header's reserved u32 (offset 20; protocol/messages/ws.ts). */
const SEQ_OFFSET = 20;
const MAX_BACKOFF_MS = 15_000;

export class LiveConnection {
  private ws: WebSocket | null = null;
  private session: string | null = null;
  private lastSeq = 0;
  private backoffMs = 500;
  /** Whether the gateway understood the alert/cluster channels (an older one answers `error`). */
  private channels = true;
  framesReceived = 0;
  bytesReceived = 0;

  constructor(
    private readonly store: StateStore,
    private readonly on: LiveHandlers,
  ) {}

  start(): void {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // Optional token auth (gateway.wsToken): the page's own ?token= is passed on.
    const token = new URLSearchParams(location.search).get('token');
    const url = `${proto}//${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.control(JSON.parse(ev.data) as WsServerMessage);
      else this.frame(new Uint8Array(ev.data as ArrayBuffer));
    };
    ws.onclose = () => {
      this.ws = null;
      this.on.onStatus(`disconnected, retrying in ${Math.round(this.backoffMs / 1000)} s`, false);
      setTimeout(() => this.start(), this.backoffMs);
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    };
  }

  /** Close the socket as a network drop would (debugging, and the end-to-end test of resume). */
  drop(): void {
    this.ws?.close(4000, 'dropped by the page');
  }

  private send(m: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private subscribe(): void {
    this.send({ type: 'subscribe', id: 'dashboard', all: true, ...(this.channels ? { alerts: true, cluster: true } : {}) });
  }

  private control(m: WsServerMessage): void {
    switch (m.type) {
      case 'welcome': {
        this.backoffMs = 500;
        const previous = this.session;
        this.session = m.session ?? null;
        if (previous) this.send({ type: 'resume', id: 'resume', session: previous, lastSeq: this.lastSeq });
        else this.subscribe();
        this.on.onStatus('connected', true);
        break;
      }
      case 'resumed':
        this.session = m.session;
        this.on.onStatus('connected (resumed)', true);
        break;
      case 'subscribed':
        // The object count is the header's (#counts, what the page holds), not a second figure here.
        this.on.onStatus('connected', true);
        break;
      case 'error':
        if (m.id === 'resume') {
          // Session unknown or expired (or another gateway): start over.
          this.session = null;
          this.subscribe();
        } else if (m.id === 'dashboard' && this.channels) {
          this.channels = false;
          this.subscribe();
        } else this.on.onStatus(`gateway error ${m.code}: ${m.message}`, false);
        break;
      case 'alert':
        this.on.onAlert(m);
        break;
      case 'cluster':
        this.on.onCluster(m.view);
        break;
      case 'heartbeat':
        break;
    }
  }

  private frame(bytes: Uint8Array): void {
    this.framesReceived++;
    this.bytesReceived += bytes.byteLength;
    let f;
    try {
      f = decodeTrackerFrame(bytes);
    } catch (err) {
      this.on.onStatus(`bad frame: ${err instanceof Error ? err.message : String(err)}`, false);
      return;
    }
    const seq = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(SEQ_OFFSET, true);
    if (seq > this.lastSeq) this.lastSeq = seq;
    this.store.ingest(f.tickMs, f.columns);
  }
}
