/**
 * A fenced register on a KV bucket: each record remembers the fencing token of
 * its writer, and a write carrying a smaller token than the stored one is
 * rejected with FencedError. Lease tokens are KV revisions, which only grow,
 * so once a new lease holder has written (or `claim`ed) a key, nothing a
 * paused or partitioned former holder sends can overwrite it. This is how an
 * entity's side effects prove they come from the current holder
 * (Orleans single activation is best effort; Kleppmann 2016 on fencing).
 *
 * The check and the write are one step: the write is a compare-and-set on the
 * revision that was read, so a concurrent writer with a larger token cannot
 * slip in between; on CasConflictError we re-read and check again.
 *
 * Record layout (bytes, a contract for anyone reading the bucket):
 *   0..1  'S' 'F' (0x53 0x46)   magic
 *   2     format version, 1
 *   3     reserved, 0
 *   4..11 fence token, unsigned 64-bit big-endian (a safe integer)
 *   12..  the caller's value, opaque
 */
import { CasConflictError, FencedError, StarWeatherError } from '../../protocol/errors.js';
import type { KvBucket } from '../../protocol/transport.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { clusterMetrics, countMalformed, type ClusterMetrics } from './cluster-metrics.js';

const MAGIC0 = 0x53;
const MAGIC1 = 0x46;
const VERSION = 1;
const HEADER_BYTES = 12;

export interface FencedRecord {
  value: Uint8Array;
  fenceToken: number;
  /** KV revision of the record. */
  revision: number;
}

export interface FencedStoreOptions {
  bucket: KvBucket;
  logger?: Logger;
  metrics?: Metrics;
  /** CAS retries before giving up with CasConflictError (default 32). */
  maxAttempts?: number;
}

export interface FencedStoreStats {
  writes: number;
  fenced: number;
  casRetries: number;
  malformed: number;
}

export function encodeFenced(value: Uint8Array, fenceToken: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + value.byteLength);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[2] = VERSION;
  out[3] = 0;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(4, BigInt(fenceToken), false);
  out.set(value, HEADER_BYTES);
  return out;
}

/** Null when the bytes are not a fenced record of a known version. */
export function decodeFenced(bytes: Uint8Array): { value: Uint8Array; fenceToken: number } | null {
  if (bytes.byteLength < HEADER_BYTES || bytes[0] !== MAGIC0 || bytes[1] !== MAGIC1 || bytes[2] !== VERSION) return null;
  const token = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(4, false);
  if (token > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { value: bytes.slice(HEADER_BYTES), fenceToken: Number(token) };
}

function assertToken(fenceToken: unknown): asserts fenceToken is number {
  if (typeof fenceToken !== 'number' || !Number.isSafeInteger(fenceToken) || fenceToken < 0) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `fence token must be a non-negative safe integer (got ${String(fenceToken)})`);
  }
}

export class FencedStore {
  readonly stats: FencedStoreStats = { writes: 0, fenced: 0, casRetries: 0, malformed: 0 };
  private readonly bucket: KvBucket;
  private readonly logger: Logger;
  private readonly maxAttempts: number;
  private readonly metrics: Metrics | undefined;
  private readonly cm: ClusterMetrics | undefined;

  constructor(options: FencedStoreOptions) {
    this.metrics = options.metrics;
    this.cm = options.metrics ? clusterMetrics(options.metrics) : undefined;
    this.bucket = options.bucket;
    this.logger = options.logger ?? createLogger({ nodeId: 'fenced-store', level: 'warn', destination: 2 });
    this.maxAttempts = options.maxAttempts ?? 32;
    if (!Number.isSafeInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `maxAttempts must be a positive integer (got ${String(options.maxAttempts)})`);
    }
  }

  /** The current record; a malformed one reads as absent (logged and counted). */
  async read(key: string): Promise<FencedRecord | null> {
    const entry = await this.bucket.get(key);
    if (entry === null) return null;
    const decoded = this.decode(key, entry.value, entry.revision);
    return decoded === null ? null : { ...decoded, revision: entry.revision };
  }

  /**
   * Write `value` under `key` as the holder of `fenceToken`. Throws FencedError
   * if the stored record was written with a larger token; an equal token is
   * the same holder writing again and is accepted. Returns the new revision.
   */
  async write(key: string, value: Uint8Array, fenceToken: number): Promise<number> {
    assertToken(fenceToken);
    if (!(value instanceof Uint8Array)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'fenced value must be a Uint8Array');
    return this.fencedCas(key, fenceToken, 'write', () => value);
  }

  /**
   * Raise the key's fence to `fenceToken`, keeping the stored value. A new
   * lease holder calls this on acquire so the previous holder is fenced out
   * at once, even before the new one has anything to write.
   */
  async claim(key: string, fenceToken: number): Promise<number> {
    assertToken(fenceToken);
    return this.fencedCas(key, fenceToken, 'claim', (stored) => stored?.value ?? new Uint8Array(0));
  }

  private async fencedCas(key: string, fenceToken: number, op: string, valueFor: (stored: { value: Uint8Array } | null) => Uint8Array): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const entry = await this.bucket.get(key);
      const stored = entry === null ? null : this.decode(key, entry.value, entry.revision);
      if (stored !== null && stored.fenceToken > fenceToken) {
        this.stats.fenced++;
        this.cm?.fencedWrites.inc({ outcome: 'fenced' });
        throw new FencedError(`${op} of ${key} with fence token ${fenceToken} rejected: the record carries token ${stored.fenceToken}`);
      }
      const bytes = encodeFenced(valueFor(stored), fenceToken);
      try {
        // CAS on the revision we checked: a writer with a larger token cannot
        // land between our check and our write.
        const revision = entry === null ? await this.bucket.create(key, bytes) : await this.bucket.update(key, bytes, entry.revision);
        this.stats.writes++;
        this.cm?.fencedWrites.inc({ outcome: 'ok' });
        return revision;
      } catch (err) {
        if (!(err instanceof CasConflictError) || attempt >= this.maxAttempts) throw err;
        this.stats.casRetries++;
        // Re-read and re-check after a short random pause, so two retrying
        // writers do not move in lock-step.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * Math.min(50, attempt * 5))));
      }
    }
  }

  private decode(key: string, bytes: Uint8Array, revision: number): { value: Uint8Array; fenceToken: number } | null {
    const decoded = decodeFenced(bytes);
    if (decoded === null) {
      this.stats.malformed++;
      countMalformed(this.metrics, 'kv.fenced', new StarWeatherError('SW_ERR_DECODE', 'not a fenced record'));
      this.logger.warn({ key, revision, bytes: bytes.byteLength }, 'malformed fenced record; treating it as absent');
    }
    return decoded;
  }
}

