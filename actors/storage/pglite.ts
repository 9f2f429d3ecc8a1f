/**
 * The embedded backend: PGlite (PostgreSQL compiled to WASM) with its files
 * under a data directory, so `npm start` keeps its data across restarts.
 * PGlite is one connection in one process: its own mutex serializes queries
 * and transactions, and a lock file keeps a second process off the same
 * directory (two writers would corrupt it). It runs on its own thread
 * (pglite-worker.ts), so its WASM execution never holds the event loop.
 */
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { copyLine, copySql, ident, type CopyValue, type Database, type Queryable, type QueryResult } from './db.js';
import { recordDbError } from './db-errors.js';
import { StorageError } from './errors.js';

export interface PgliteOptions {
  /** Directory for the database files; created when missing. */
  dataDir: string;
  /** Schema for search_path; created when missing. Default `public`. */
  schema?: string;
}

function fail(sql: string, err: unknown): StorageError {
  recordDbError(err);
  const msg = err instanceof Error ? err.message : String(err);
  return new StorageError(`${msg} [sql: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`, { cause: err });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files this process holds: a second open in the same process is refused too. */
const held = new Set<string>();

function releaseLock(file: string): void {
  held.delete(file);
  rmSync(file, { force: true });
}

/** Take `<dir>/starweather.lock`, taking over a lock whose process is gone. */
function takeLock(dir: string): string {
  const file = join(dir, 'starweather.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.add(file);
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot lock ${dir}`, { cause: err });
      const pid = Number(readFileSync(file, 'utf8').trim());
      const ours = pid === process.pid && held.has(file);
      if (Number.isInteger(pid) && pid > 0 && (ours || (pid !== process.pid && pidAlive(pid)))) {
        throw new StorageError(`embedded database ${dir} is in use by process ${pid}${ours ? ' (this one)' : ''}; PGlite allows one process per data directory (set DATABASE_URL for several nodes)`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new StorageError(`cannot lock ${dir}`);
}

/** An error from the PGlite thread, rebuilt with PostgreSQL's fields (code is the SQLSTATE). */
class PgliteError extends Error {
  readonly code: string | undefined;
  readonly detail: string | undefined;
  readonly severity: string | undefined;
  constructor(e: { message: string; name?: string; code?: string; detail?: string; severity?: string }) {
    super(e.message);
    this.name = e.name ?? 'PgliteError';
    this.code = e.code;
    this.detail = e.detail;
    this.severity = e.severity;
  }
}

type Reply = { id: number; ok: true; rows?: unknown[]; rowCount?: number; tx?: number } | { id: number; ok: false; error: { message: string; name?: string; code?: string } };

/**
 * The request side of the PGlite thread (pglite-worker.ts): over the
 * Worker itself (the owner, this module) or over a port attached to it
 * (a role host on a thread of its own, pgliteClient below).
 */
class PgliteThread {
  private readonly endpoint: Worker | MessagePort;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;
  /** close() was called: later calls fail as PGlite's own do after close. */
  closed = false;

  constructor(endpoint: Worker | MessagePort) {
    this.endpoint = endpoint;
    endpoint.on('message', (r: Reply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      w.resolve(r);
    });
    if (endpoint instanceof Worker) {
      endpoint.on('error', (err) => this.fail(new StorageError(`embedded database thread failed: ${err.message}`, { cause: err })));
      endpoint.on('exit', (code) => this.fail(new StorageError(`embedded database thread exited (code ${code})`)));
    } else {
      endpoint.on('close', () => this.fail(new StorageError('embedded database connection closed')));
    }
  }

  fail(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  async call(req: Record<string, unknown>): Promise<Reply & { ok: true }> {
    if (this.closed && req.op !== 'close') throw new Error('PGlite is closed');
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.endpoint.postMessage({ ...req, id });
    });
    if (!reply.ok) throw new PgliteError(reply.error);
    return reply;
  }

  async terminate(): Promise<void> {
    if (this.endpoint instanceof Worker) await this.endpoint.terminate();
    else this.endpoint.close();
  }
}

function queryable(thread: PgliteThread, tx: number | null): Queryable {
  return {
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      try {
        const r = await thread.call({ op: 'query', tx, sql, params: [...params] });
        return { rows: (r.rows ?? []) as R[], rowCount: r.rowCount ?? 0 };
      } catch (err) {
        throw fail(sql, err);
      }
    },
    async copyRows(table: string, columns: readonly string[], rows: Iterable<readonly CopyValue[]>): Promise<number> {
      const sql = copySql(table, columns, "'/dev/blob'");
      let text = '';
      let n = 0;
      for (const row of rows) {
        text += copyLine(row);
        n++;
      }
      if (n === 0) return 0;
      try {
        await thread.call({ op: 'copy', tx, sql, text });
        return n;
      } catch (err) {
        throw fail(sql, err);
      }
    },
  };
}

/**
 * Open the embedded database. PGlite runs on a thread of its own
 * (pglite-worker.ts): its statements execute synchronously in WASM, and the
 * loop that carries heartbeats, leases and HTTP answers must not wait on
 * them. The lock file is taken here, by the process.
 */
export async function openPglite(options: PgliteOptions): Promise<Database> {
  const schema = options.schema ?? 'public';
  ident(schema);
  // The database's files are this process's alone (PostgreSQL itself insists on 0700 for a data directory); tightened on an existing one too.
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(options.dataDir, 0o700);
  const lock = takeLock(options.dataDir);
  let thread: PgliteThread;
  let worker: Worker;
  try {
    worker = new Worker(new URL('./pglite-worker.js', import.meta.url), {
      workerData: { pgdata: join(options.dataDir, 'pgdata'), setup: `CREATE SCHEMA IF NOT EXISTS ${ident(schema)}; SET search_path TO ${ident(schema)}` },
    });
    let onMessage!: (r: Reply) => void;
    let onError!: (e: Error) => void;
    let onExit!: (code: number) => void;
    const ready = await new Promise<Reply>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new Error(`the database thread exited (code ${code})`));
      worker.once('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    }).finally(() => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    });
    if (!ready.ok) {
      await worker.terminate();
      throw new PgliteError(ready.error);
    }
    thread = new PgliteThread(worker);
  } catch (err) {
    releaseLock(lock);
    throw new StorageError(`cannot open embedded database in ${options.dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const db = database(thread, schema, async () => {
    try {
      await thread.call({ op: 'close' }).catch(() => undefined);
      await thread.terminate();
    } finally {
      releaseLock(lock);
    }
  });
  owners.set(db, { thread, worker });
  return db;
}

/** The owner side of each open embedded database: what attachPgliteClient needs. */
const owners = new WeakMap<Database, { thread: PgliteThread; worker: Worker }>();
let nextClient = 1;

function database(thread: PgliteThread, schema: string, shut: () => Promise<void>): Database {
  const base = queryable(thread, null);
  let closed = false;
  return {
    backend: 'pglite',
    schema,
    query: base.query,
    copyRows: base.copyRows,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      let tx: number;
      try {
        tx = (await thread.call({ op: 'begin' })).tx!;
      } catch (err) {
        throw fail('BEGIN', err);
      }
      let result: T;
      try {
        result = await fn(queryable(thread, tx));
      } catch (err) {
        await thread.call({ op: 'end', tx, commit: false }).catch(() => undefined);
        throw err instanceof StorageError ? err : fail('transaction', err);
      }
      try {
        await thread.call({ op: 'end', tx, commit: true });
      } catch (err) {
        throw fail('COMMIT', err);
      }
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      thread.closed = true;
      await shut();
    },
  };
}

export interface PgliteAttachment {
  /** For the client's thread (transfer it): pgliteClient(port, schema) there. */
  port: MessagePort;
  /** Cut the client off and roll back what it left open; idempotent. */
  detach(): void;
}

/**
 * A second connection to an open embedded database, for another thread: a
 * port straight to the PGlite thread, so the client's statements never pass
 * through this thread's loop. PGlite still runs one statement and one
 * transaction at a time for all its clients.
 */
export function attachPgliteClient(db: Database): PgliteAttachment {
  const owner = owners.get(db);
  if (!owner) throw new StorageError('not an embedded database opened by openPglite');
  if (owner.thread.closed) throw new StorageError('the embedded database is closed');
  const client = nextClient++;
  const { port1, port2 } = new MessageChannel();
  owner.worker.postMessage({ op: 'attach', client, port: port1 }, [port1]);
  let detached = false;
  return {
    port: port2,
    detach() {
      if (detached) return;
      detached = true;
      if (!owner.thread.closed) owner.worker.postMessage({ op: 'detach', client });
    },
  };
}

/** The Database of a port from attachPgliteClient; close() closes only this connection. */
export function pgliteClient(port: MessagePort, schema: string): Database {
  ident(schema);
  const thread = new PgliteThread(port);
  return database(thread, schema, async () => {
    thread.fail(new Error('PGlite is closed'));
    await thread.terminate();
  });
}
