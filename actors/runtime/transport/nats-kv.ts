/**
 * KvBucket over a JetStream KV bucket. Revisions are stream sequences, so
 * they are the compare-and-set tokens (and the fencing tokens for leases).
 * A lost compare-and-set is a CasConflictError, never a generic failure: the
 * lease code needs to tell "someone else won" from "the bus is down".
 */
import type { KV, KvEntry as NatsKvEntry } from '@nats-io/kv';
import { CasConflictError, ClosedError, StarWeatherError, StoreUnavailableError } from '../../../protocol/errors.js';
import type { KvBucket, KvChange, KvEntry, Subscription } from '../../../protocol/transport.js';
import { describe, isClosed, isTransient, isWrongLastSequence } from './nats-errors.js';
import { listKv, watchKv, type KvFeedDeps } from './nats-kv-feed.js';

const KEY_RE = /^[-/_=.a-zA-Z0-9]+$/;

function checkKey(key: string): void {
  if (typeof key !== 'string' || !KEY_RE.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..')) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `invalid KV key ${JSON.stringify(key)}: use [-/_=.a-zA-Z0-9], dots only between tokens`);
  }
}

function checkPrefix(prefix: string | undefined): void {
  if (prefix === undefined || prefix === '') return;
  if (typeof prefix !== 'string' || !KEY_RE.test(prefix) || prefix.startsWith('.') || prefix.includes('..')) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `invalid KV key prefix ${JSON.stringify(prefix)}`);
  }
}

/**
 * The subject filter that selects `prefix`: a prefix that ends on a token
 * boundary maps onto `prefix>`; any other prefix ("shard.1" must not only
 * match "shard.1.x" but also "shard.10") needs every key and a client filter.
 */
function filterFor(prefix: string | undefined): string {
  return prefix && prefix.endsWith('.') ? `${prefix}>` : '>';
}

function checkRevision(op: string, key: string, revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `KV ${op} ${key}: revision must be a positive integer (got ${revision})`);
  }
}

function isLive(e: NatsKvEntry | null): e is NatsKvEntry {
  return e !== null && e.operation === 'PUT';
}

/**
 * A NATS failure as a StarWeather error. A transient failure while the
 * connection is up (request timeout, no responders, 503) means the bucket's
 * stream has no leader: StoreUnavailableError. Failures while disconnected
 * stay SW_ERR_TRANSPORT: this host may be the one cut off.
 */
function wrap(op: string, key: string, err: unknown, connectedThroughout: boolean): unknown {
  if (err instanceof StarWeatherError) return err;
  if (isClosed(err)) return new ClosedError(`KV ${op} ${key}: NATS connection`);
  if (isWrongLastSequence(err)) return new CasConflictError(key, { cause: err });
  if (connectedThroughout && isTransient(err)) return new StoreUnavailableError(`KV ${op} ${key}: connected, but the bucket did not answer (${describe(err)})`, { cause: err });
  return new StarWeatherError('SW_ERR_TRANSPORT', `KV ${op} ${key}: ${describe(err)}`, { cause: err });
}

export class NatsKvBucket implements KvBucket {
  readonly name: string;
  private readonly kv: KV;
  private readonly ready: (what: string) => Promise<void>;
  private readonly feeds: KvFeedDeps;
  private readonly onError: (err: unknown, what: string) => void;
  /** The connection's epoch (it grows at every disconnect), or -1 while disconnected. */
  private readonly link: () => number;

  /**
   * `ready` throws ClosedError once the owning transport is closing, and
   * otherwise waits (bounded) for a connection: a request written while
   * disconnected is never answered. KV writes are not retried here: a
   * compare-and-set whose reply was lost must be judged by the caller
   * (re-read the key), not blindly repeated.
   */
  constructor(
    name: string,
    kv: KV,
    ready: (what: string) => Promise<void>,
    feeds: KvFeedDeps,
    onError: (err: unknown, what: string) => void,
    link: () => number,
  ) {
    this.name = name;
    this.link = link;
    this.kv = kv;
    this.ready = ready;
    this.feeds = feeds;
    this.onError = onError;
  }

  /**
   * Every bucket operation: wait for a connection, then run `fn`, turning a
   * NATS failure into a StarWeather error. "Connected throughout" (what
   * makes a transient failure StoreUnavailableError) means connected when
   * the call was made and when it failed, with no disconnect between.
   */
  private async call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    await this.ready(`KV bucket ${this.name}`);
    const linkAtStart = this.link();
    try {
      return await fn();
    } catch (err) {
      throw wrap(op, key, err, linkAtStart >= 0 && linkAtStart === this.link());
    }
  }

  async get(key: string): Promise<KvEntry | null> {
    checkKey(key);
    return this.call('get', key, async () => {
      const e = await this.kv.get(key);
      return isLive(e) ? { key, value: e.value, revision: e.revision } : null;
    });
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    return this.call('put', key, () => this.kv.put(key, value));
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    // kv.create also succeeds over a deleted/purged key (CAS on the marker's revision).
    return this.call('create', key, () => this.kv.create(key, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKey(key);
    checkRevision('update', key, revision);
    return this.call('update', key, () => this.kv.update(key, value, revision));
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKey(key);
    if (revision !== undefined) checkRevision('delete', key, revision);
    return this.call('delete', key, async () => {
      if (revision === undefined) await this.kv.delete(key);
      else await this.kv.delete(key, { previousSeq: revision });
    });
  }

  async keys(prefix?: string): Promise<string[]> {
    return (await this.list(prefix, true)).map((e) => e.key);
  }

  async entries(prefix?: string): Promise<KvEntry[]> {
    return this.list(prefix, false);
  }

  private async list(prefix: string | undefined, headersOnly: boolean): Promise<KvEntry[]> {
    checkPrefix(prefix);
    return this.call(headersOnly ? 'keys' : 'entries', prefix ?? '*', async () => {
      const all = await listKv(this.feeds, this.name, filterFor(prefix), { headersOnly });
      return prefix ? all.filter((e) => e.key.startsWith(prefix)) : all;
    });
  }

  async watch(onChange: (change: KvChange) => void, prefix?: string): Promise<Subscription> {
    checkPrefix(prefix);
    const filtered = (c: KvChange): void => {
      if (!prefix || c.key.startsWith(prefix)) onChange(c);
    };
    const handle = await this.call('watch', prefix ?? '*', () => watchKv(this.feeds, this.name, filterFor(prefix), filtered, this.onError));
    return { unsubscribe: () => handle.stop() };
  }
}
