/**
 * Progress of a long command, on stderr so stdout stays the result: on a
 * terminal one line rewritten in place (at most every TTY_EVERY_MS); when
 * not a terminal (CI, a log file, a pipe) a plain line at most every
 * `everyMs`, because a rewritten line would be one unreadable run of
 * carriage returns there.
 */
export const TTY_EVERY_MS = 100;
export const PLAIN_EVERY_MS = 5_000;

export interface ProgressOut {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly out: ProgressOut = process.stderr,
    private readonly everyMs = PLAIN_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.tty = out.isTTY === true;
  }

  /** Says where the work is; dropped when the last line is too recent. */
  update(text: string): void {
    const t = this.now();
    if (this.shown && t - this.last < (this.tty ? TTY_EVERY_MS : this.everyMs)) return;
    this.last = t;
    this.shown = true;
    const line = `${this.label}: ${text}`;
    if (this.tty) this.out.write(`\r${line.slice(0, Math.max(20, (this.out.columns ?? 80) - 1))}\x1b[K`);
    else this.out.write(`${line}\n`);
  }

  /** Ends the progress display: clears the rewritten line on a terminal so the result starts on a clean one. */
  end(): void {
    if (this.tty && this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}

/** "12,345" */
export const count = (n: number): string => n.toLocaleString('en-US');

/** A progress bar of `width` cells for a fraction in [0, 1]. */
export function bar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.floor(f * 100)}%`;
}
