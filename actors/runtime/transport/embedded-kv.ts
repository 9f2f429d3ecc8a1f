/**
 * An in-memory KV bucket with the JetStream KV semantics the core relies on:
 * one revision counter per bucket (every put and delete takes the next one),
 * `create` only over an absent or deleted key, `update` and conditional
 * `delete` as compare-and-set on the key's last revision, and watchers that
 * see every change after they start, in revision order.
 *
 * A delete leaves a tombstone carrying its revision, as JetStream does, so an
 * `update` against the delete's revision behaves the same on both buses.
 */
import { CasConflictError, ClosedError, StarWeatherError } from '../../../protocol/errors.js';
import type { KvBucket, KvChange, KvEntry, Subscription } from '../../../protocol/transport.js';
import { MAX_PAYLOAD_BYTES } from './embedded-pubsub.js';

// The key syntax of JetStream KV (nats.js kv validKeyRe, and no empty
// token), the same check as nats-kv.ts: a key the embedded bus accepts is one
// NATS accepts too.
const VALID_KEY = /^[-/_=.a-zA-Z0-9]+$/;

interface Slot {
  /** null: a delete tombstone. */
  value: Uint8Array | null;
  revision: number;
}

interface Watcher {
  prefix: string;
  onChange: (change: KvChange) => void;
  active: boolean;
}

function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !VALID_KEY.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..')) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `invalid KV key ${JSON.stringify(key)}: use [-/_=.a-zA-Z0-9], dots only between tokens`);
  }
}

function assertValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'KV value must be a Uint8Array');
  if (value.byteLength > MAX_PAYLOAD_BYTES) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `KV value of ${value.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
}

function assertPrefix(prefix: unknown): asserts prefix is string | undefined {
  if (prefix === undefined || prefix === '') return;
  if (typeof prefix !== 'string' || !VALID_KEY.test(prefix) || prefix.startsWith('.') || prefix.includes('..')) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `invalid KV key prefix ${JSON.stringify(prefix)}`);
  }
}

export class EmbeddedKvBucket implements KvBucket {
  readonly name: string;
  private readonly slots = new Map<string, Slot>();
  private revision = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly isClosed: () => boolean;
  private readonly onError: (err: unknown) => void;

  constructor(name: string, isClosed: () => boolean, onError: (err: unknown) => void) {
    this.name = name;
    this.isClosed = isClosed;
    this.onError = onError;
  }

  async get(key: string): Promise<KvEntry | null> {
    this.check();
    assertKey(key);
    const slot = this.slots.get(key);
    if (!slot || slot.value === null) return null;
    return { key, value: slot.value.slice(), revision: slot.revision };
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.check();
    assertKey(key);
    assertValue(value);
    return this.write(key, value.slice());
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.check();
    assertKey(key);
    assertValue(value);
    const slot = this.slots.get(key);
    if (slot && slot.value !== null) throw new CasConflictError(key);
    return this.write(key, value.slice());
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.check();
    assertKey(key);
    assertValue(value);
    this.assertRevision(revision);
    if ((this.slots.get(key)?.revision ?? 0) !== revision) throw new CasConflictError(key);
    return this.write(key, value.slice());
  }

  async delete(key: string, revision?: number): Promise<void> {
    this.check();
    assertKey(key);
    if (revision !== undefined) this.assertRevision(revision);
    const slot = this.slots.get(key);
    if (revision !== undefined && (slot?.revision ?? 0) !== revision) throw new CasConflictError(key);
    // Deleting what is not there changes nothing a reader could see.
    if (!slot || slot.value === null) return;
    this.write(key, null);
  }

  async keys(prefix?: string): Promise<string[]> {
    this.check();
    assertPrefix(prefix);
    const out: string[] = [];
    for (const [key, slot] of this.slots) {
      if (slot.value !== null && (!prefix || key.startsWith(prefix))) out.push(key);
    }
    return out.sort();
  }

  async entries(prefix?: string): Promise<KvEntry[]> {
    this.check();
    assertPrefix(prefix);
    const out: KvEntry[] = [];
    for (const [key, slot] of this.slots) {
      if (slot.value !== null && (!prefix || key.startsWith(prefix))) out.push({ key, value: slot.value.slice(), revision: slot.revision });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async watch(onChange: (change: KvChange) => void, prefix?: string): Promise<Subscription> {
    this.check();
    assertPrefix(prefix);
    if (typeof onChange !== 'function') throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'onChange must be a function');
    const watcher: Watcher = { prefix: prefix ?? '', onChange, active: true };
    this.watchers.add(watcher);
    return {
      unsubscribe: () => {
        watcher.active = false;
        this.watchers.delete(watcher);
      },
    };
  }

  /** Stops every watcher (transport close). */
  close(): void {
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
  }

  private write(key: string, value: Uint8Array | null): number {
    const revision = ++this.revision;
    this.slots.set(key, { value, revision });
    for (const w of this.watchers) {
      if (w.prefix && !key.startsWith(w.prefix)) continue;
      const change: KvChange = { key, value: value === null ? null : value.slice(), revision };
      // Microtasks run in FIFO order, so each watcher sees revisions in order,
      // and never inside the writer's own call.
      queueMicrotask(() => {
        if (!w.active) return;
        try {
          w.onChange(change);
        } catch (err) {
          this.onError(err);
        }
      });
    }
    return revision;
  }

  private assertRevision(revision: unknown): void {
    // Revisions start at 1; 0 would mean "absent", which is what create() is for.
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `KV revision must be a positive integer (got ${String(revision)})`);
    }
  }

  private check(): void {
    if (this.isClosed()) throw new ClosedError(`KV bucket ${this.name}`);
  }
}
