/**
 * One websocket client's send queue, with two lanes:
 *
 * - the urgent lane: control messages and alerts (JSON text), FIFO, never
 *   dropped. It is bounded: a client that lets `maxUrgent` messages pile up
 *   is overflowing, and the caller disconnects it rather than skip an alert.
 * - the position lane: one slot. A new position frame replaces an unsent
 *   one (latest wins: the newer frame carries newer states) and the
 *   replacement is reported as a skip.
 *
 * At most one message is handed to the socket at a time, and the next one
 * is chosen when the socket reports it written: anything still queued here
 * can be reordered, so an alert raised while a position frame waits goes
 * out first. A frame already written cannot be overtaken. Memory per client
 * is thus one frame in the socket, one pending frame (both shared with every
 * client of the subscription class) and at most `maxUrgent` small messages.
 */

/** The part of a websocket the outbox drives (ws.WebSocket fits through a thin adapter). */
export interface OutboxSocket {
  /** Hand one message to the socket; `done` once it is written (or failed). */
  write(data: Uint8Array, binary: boolean, done: (err?: Error) => void): void;
  /** False once the socket is closing or closed. */
  isOpen(): boolean;
}

export class Outbox {
  private readonly urgent: Uint8Array[] = [];
  private position: Uint8Array | null = null;
  private inFlight = false;
  private writtenBytes = 0;
  private readonly onWritten = (): void => {
    this.inFlight = false;
    this.pump();
  };

  constructor(
    private readonly socket: OutboxSocket,
    private readonly maxUrgent: number,
  ) {}

  /**
   * Queue a JSON text message ahead of any position frame. Returns false
   * when the urgent lane is full (the message is not queued; the caller
   * should disconnect the client).
   */
  pushUrgent(text: Uint8Array): boolean {
    if (this.urgent.length >= this.maxUrgent) return false;
    this.urgent.push(text);
    this.pump();
    return true;
  }

  /** Offer a position frame. Returns false when it replaced an unsent frame (a skip). */
  offerPosition(frame: Uint8Array): boolean {
    const replaced = this.position !== null;
    this.position = frame;
    this.pump();
    return !replaced;
  }

  /** Bytes queued here and not yet handed to the socket. */
  queuedBytes(): number {
    let n = this.position?.byteLength ?? 0;
    for (const u of this.urgent) n += u.byteLength;
    return n;
  }

  /** Messages queued here (urgent lane). */
  urgentLength(): number {
    return this.urgent.length;
  }

  /** Whether a message is with the socket and not yet written. */
  busy(): boolean {
    return this.inFlight;
  }

  /** Bytes handed to the socket so far. */
  written(): number {
    return this.writtenBytes;
  }

  /**
   * Take the urgent lane's messages out (and drop the pending position
   * frame): a connection being closed hands them to the socket ahead of the
   * close frame, so a client learns why (e.g. the rate-limit errors).
   */
  takeUrgent(): Uint8Array[] {
    const out = this.urgent.splice(0);
    this.position = null;
    return out;
  }

  /** Drop everything queued (the connection is gone). */
  clear(): void {
    this.urgent.length = 0;
    this.position = null;
  }

  private pump(): void {
    if (this.inFlight || !this.socket.isOpen()) return;
    let data: Uint8Array | undefined;
    let binary = false;
    if (this.urgent.length > 0) data = this.urgent.shift();
    else if (this.position) {
      data = this.position;
      this.position = null;
      binary = true;
    }
    if (!data) return;
    this.inFlight = true;
    this.writtenBytes += data.byteLength;
    this.socket.write(data, binary, this.onWritten);
  }
}
