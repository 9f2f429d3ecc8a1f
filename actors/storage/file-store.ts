/**
 * L2 cache: rendered tiles and images as files under one root.
 * - A key can never name a path outside the root: it must be plain segments
 *   of [A-Za-z0-9._-] not starting with a dot (so no `.`/`..`, no hidden
 *   files), with no `%` (no encoded traversal), backslash, NUL or leading
 *   slash; and the resolved path is checked with path.relative (RELIABILITY.md:
 *   a bare startsWith(root) is not enough).
 * - Writes are atomic: a temp file in <root>/.tmp, then rename(2) into place,
 *   so a reader sees the old file or the new one, never half of one.
 * - A size cap with least-recently-used eviction (an in-process index, rebuilt
 *   from disk at open with mtime as the last use).
 * - Strong ETags from the SHA-256 of the content, for HTTP caching.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PathTraversalError, StorageArgumentError, StorageError } from './errors.js';

export const MAX_KEY_LENGTH = 1024;
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const MAX_DEPTH = 16;
const TMP = '.tmp';

/** Validate a key and return its absolute path under `root` (which must be absolute and canonical). Throws PathTraversalError. */
export function keyPath(root: string, key: unknown): string {
  if (typeof key !== 'string') throw new PathTraversalError('key must be a string');
  if (key.length === 0) throw new PathTraversalError('key is empty');
  if (key.length > MAX_KEY_LENGTH) throw new PathTraversalError(`key longer than ${MAX_KEY_LENGTH} characters`);
  if (key.includes('\0')) throw new PathTraversalError('key contains NUL');
  if (key.includes('\\')) throw new PathTraversalError('key contains a backslash');
  if (key.includes('%')) throw new PathTraversalError('key contains % (percent-encoding is decoded before the store, never inside it)');
  if (key.startsWith('/') || isAbsolute(key)) throw new PathTraversalError('key is an absolute path');
  const segments = key.split('/');
  if (segments.length > MAX_DEPTH) throw new PathTraversalError(`key deeper than ${MAX_DEPTH} segments`);
  for (const s of segments) {
    if (s === '..' || s === '.') throw new PathTraversalError('key contains a . or .. segment');
    if (!SEGMENT.test(s)) throw new PathTraversalError(`key segment ${JSON.stringify(s.slice(0, 40))} must be 1..128 of [A-Za-z0-9._-] and not start with a dot`);
  }
  const full = resolve(root, key);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new PathTraversalError('key resolves outside the root');
  return full;
}

export function etagOf(data: Uint8Array): string {
  return `"${createHash('sha256').update(data).digest('base64url').slice(0, 27)}"`;
}

interface IndexEntry {
  size: number;
  etag: string | undefined;
}

export interface StoredFile {
  data: Buffer;
  etag: string;
  size: number;
}

export interface FileStoreOptions {
  root: string;
  /** Total bytes kept; least recently used files are evicted past it. */
  maxBytes: number;
}

export interface FileStoreStats {
  files: number;
  bytes: number;
  maxBytes: number;
  evictions: number;
  rejectedKeys: number;
}

/** What a file store's users call: FileStore, or its bridge on a host thread (thread-storage.ts). */
export interface Files {
  readonly root: string;
  readonly maxBytes: number;
  put(key: string, data: Uint8Array | string): Promise<{ etag: string; size: number }>;
  get(key: string): Promise<StoredFile | null>;
  head(key: string): Promise<{ etag: string; size: number } | null>;
  delete(key: string): Promise<boolean>;
  stats(): FileStoreStats;
}

export class FileStore implements Files {
  readonly root: string;
  readonly maxBytes: number;
  /** Map order is recency: first = least recently used. */
  readonly #index = new Map<string, IndexEntry>();
  #bytes = 0;
  #evictions = 0;
  #rejected = 0;

  private constructor(root: string, maxBytes: number) {
    this.root = root;
    this.maxBytes = maxBytes;
  }

  static async open(options: FileStoreOptions): Promise<FileStore> {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) throw new StorageArgumentError('maxBytes must be a positive integer');
    // Cached products are served only through the gateway: no other local user needs to read them.
    await mkdir(options.root, { recursive: true, mode: 0o700 });
    // Canonical root: relative() checks compare against the real path.
    const root = await realpath(options.root);
    const store = new FileStore(root, options.maxBytes);
    // Temp files left by a crash mid-write are garbage.
    await rm(join(root, TMP), { recursive: true, force: true });
    await mkdir(join(root, TMP), { recursive: true, mode: 0o700 });
    await store.#scan();
    await store.#evict();
    return store;
  }

  async #scan(): Promise<void> {
    const found: Array<{ key: string; size: number; mtime: number }> = [];
    const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
      if (depth > MAX_DEPTH) return;
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.name.startsWith('.')) continue;
        const key = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(join(dir, e.name), key, depth + 1);
        else if (e.isFile()) {
          try {
            keyPath(this.root, key);
          } catch {
            continue; // not a key this store could have written
          }
          const st = await stat(join(dir, e.name));
          found.push({ key, size: st.size, mtime: st.mtimeMs });
        }
      }
    };
    await walk(this.root, '', 0);
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      this.#index.set(f.key, { size: f.size, etag: undefined });
      this.#bytes += f.size;
    }
  }

  #path(key: unknown): string {
    try {
      return keyPath(this.root, key);
    } catch (err) {
      this.#rejected++;
      throw err;
    }
  }

  #touch(key: string, entry: IndexEntry): void {
    this.#index.delete(key);
    this.#index.set(key, entry);
  }

  #forget(key: string): void {
    const e = this.#index.get(key);
    if (e) {
      this.#bytes -= e.size;
      this.#index.delete(key);
    }
  }

  async #evict(keep?: string): Promise<void> {
    for (const [key] of this.#index) {
      if (this.#bytes <= this.maxBytes) break;
      if (key === keep) continue;
      this.#forget(key);
      this.#evictions++;
      await unlink(join(this.root, key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw new StorageError(`cannot evict ${key}`, { cause: err });
      });
    }
  }

  /** Write atomically; returns the new ETag. */
  async put(key: string, data: Uint8Array | string): Promise<{ etag: string; size: number }> {
    const full = this.#path(key);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (bytes.byteLength > this.maxBytes) throw new StorageArgumentError(`a ${bytes.byteLength}-byte file exceeds the cache cap of ${this.maxBytes} bytes`);
    const dir = dirname(full);
    let realDir: string;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // A directory swapped for a symlink would pass the lexical check; the real path must still be inside.
      realDir = await realpath(dir);
    } catch (err) {
      throw new StorageError(`cannot create the directory for ${key}: ${(err as Error).message}`, { cause: err });
    }
    const rel = relative(this.root, realDir);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new PathTraversalError('key resolves outside the root through a link');
    const tmp = join(this.root, TMP, `${randomBytes(8).toString('hex')}.tmp`);
    try {
      // No fsync: this is a cache of regenerable renders; rename gives atomic visibility.
      await writeFile(tmp, bytes);
      await rename(tmp, full);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw new StorageError(`cannot write ${key}: ${(err as Error).message}`, { cause: err });
    }
    const etag = etagOf(bytes);
    this.#forget(key);
    this.#index.set(key, { size: bytes.byteLength, etag });
    this.#bytes += bytes.byteLength;
    await this.#evict(key);
    return { etag, size: bytes.byteLength };
  }

  /** The file and its ETag, or null; counts as a use for LRU. */
  async get(key: string): Promise<StoredFile | null> {
    const full = this.#path(key);
    let data: Buffer;
    try {
      data = await readFile(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') {
        this.#forget(key);
        return null;
      }
      throw new StorageError(`cannot read ${key}`, { cause: err });
    }
    const prev = this.#index.get(key);
    const etag = prev?.etag && prev.size === data.byteLength ? prev.etag : etagOf(data);
    if (prev) this.#bytes -= prev.size;
    this.#bytes += data.byteLength;
    this.#touch(key, { size: data.byteLength, etag });
    if (!prev) await this.#evict(key);
    return { data, etag, size: data.byteLength };
  }

  /** ETag and size without reading the body when the index knows them (If-None-Match checks). */
  async head(key: string): Promise<{ etag: string; size: number } | null> {
    this.#path(key);
    const e = this.#index.get(key);
    if (e?.etag) return { etag: e.etag, size: e.size };
    const f = await this.get(key);
    return f ? { etag: f.etag, size: f.size } : null;
  }

  async delete(key: string): Promise<boolean> {
    const full = this.#path(key);
    this.#forget(key);
    try {
      await unlink(full);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new StorageError(`cannot delete ${key}`, { cause: err });
    }
  }

  stats(): FileStoreStats {
    return { files: this.#index.size, bytes: this.#bytes, maxBytes: this.maxBytes, evictions: this.#evictions, rejectedKeys: this.#rejected };
  }
}

