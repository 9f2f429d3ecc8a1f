/**
 * The PGlite owner thread (see pglite.ts). PGlite runs PostgreSQL compiled to
 * WASM: every statement executes synchronously on the thread that calls it
 * (reading a 1 MB document takes ~25 ms, writing one ~40 ms, more on a busy
 * machine), so in the embedded default, where every role shares one event
 * loop, it runs here instead, and the loop only posts requests and receives
 * rows. One thread owns the one PGlite instance, which serialises queries and
 * transactions itself, as before.
 *
 * Protocol (structured clone over the worker port):
 *   main → { id, op: 'query', tx, sql, params } | { id, op: 'copy', tx, sql, text }
 *        | { id, op: 'begin' } | { id, op: 'end', tx, commit } | { id, op: 'close' }
 *   worker → { id, ok: true, rows, rowCount } | { id, ok: true, tx } | { id, ok: false, error }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';

type Request =
  | { id: number; op: 'query'; tx: number | null; sql: string; params: unknown[] }
  | { id: number; op: 'copy'; tx: number | null; sql: string; text: string }
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'close' };

interface SerialError {
  message: string;
  name?: string;
  code?: string;
  detail?: string;
  severity?: string;
}

const { pgdata, setup } = workerData as { pgdata: string; setup: string };
const port = parentPort!;

function serial(err: unknown): SerialError {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; detail?: unknown; severity?: unknown };
  return {
    message: e.message,
    name: e.name,
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.detail === 'string' ? { detail: e.detail } : {}),
    ...(typeof e.severity === 'string' ? { severity: e.severity } : {}),
  };
}

let db: PGlite;
try {
  db = await PGlite.create(pgdata);
  await db.exec(setup);
  port.postMessage({ id: 0, ok: true });
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: serial(err) });
  process.exit(1);
}

interface OpenTx {
  tx: Transaction;
  /** Resolves the transaction callback: commit (true) or roll back (false). */
  finish: (commit: boolean) => void;
  /** Settles when PGlite has committed or rolled back. */
  done: Promise<void>;
}

const open = new Map<number, OpenTx>();
let nextTx = 1;

class Rollback extends Error {}

function runner(tx: number | null): Pick<PGlite, 'query'> | Transaction {
  if (tx === null) return db;
  const t = open.get(tx);
  if (!t) throw new Error(`transaction ${tx} is not open`);
  return t.tx;
}

async function handle(req: Request): Promise<void> {
  try {
    switch (req.op) {
      case 'query': {
        const r = await runner(req.tx).query(req.sql, req.params);
        port.postMessage({ id: req.id, ok: true, rows: r.rows, rowCount: r.fields.length > 0 ? r.rows.length : (r.affectedRows ?? 0) });
        return;
      }
      case 'copy': {
        // PGlite reads COPY input from a Blob mounted at /dev/blob (PGlite docs, "/dev/blob").
        await runner(req.tx).query(req.sql, [], { blob: new Blob([req.text]) });
        port.postMessage({ id: req.id, ok: true, rows: [], rowCount: 0 });
        return;
      }
      case 'begin': {
        const id = nextTx++;
        let started!: () => void;
        const ready = new Promise<void>((r) => (started = r));
        let finish!: (commit: boolean) => void;
        const decided = new Promise<boolean>((r) => (finish = r));
        const done = db
          .transaction(async (tx) => {
            open.set(id, { tx, finish, done: Promise.resolve() });
            started();
            if (!(await decided)) throw new Rollback('rolled back');
          })
          .then(
            () => undefined,
            (err: unknown) => {
              if (!(err instanceof Rollback)) throw err;
            },
          );
        // A failure to BEGIN rejects `done` before the callback ran.
        await Promise.race([ready, done]);
        const t = open.get(id);
        if (!t) throw new Error('could not begin a transaction');
        t.done = done;
        port.postMessage({ id: req.id, ok: true, tx: id });
        return;
      }
      case 'end': {
        const t = open.get(req.tx);
        if (!t) throw new Error(`transaction ${req.tx} is not open`);
        open.delete(req.tx);
        t.finish(req.commit);
        await t.done;
        port.postMessage({ id: req.id, ok: true, rows: [], rowCount: 0 });
        return;
      }
      case 'close': {
        for (const t of open.values()) t.finish(false);
        await Promise.allSettled([...open.values()].map((t) => t.done));
        open.clear();
        await db.close();
        port.postMessage({ id: req.id, ok: true, rows: [], rowCount: 0 });
        return;
      }
    }
  } catch (err) {
    port.postMessage({ id: req.id, ok: false, error: serial(err) });
  }
}

port.on('message', (req: Request) => void handle(req));
