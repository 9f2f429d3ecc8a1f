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
 *
 * Clients: the main thread on the parent port, and any number of attached
 * ports (role hosts on threads of their own, actors/storage/thread-storage.ts):
 *   main → { op: 'attach', client, port } | { op: 'detach', client }
 * An attached port speaks the protocol above except 'close' (PGlite is the
 * main thread's to close). A client that goes away (detach, its port
 * closed, its thread terminated) has its open transactions rolled back:
 * PGlite runs one transaction at a time, so a dead host's must not hold it.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
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
  /** The client that began it: 0 for the main thread, else an attached port's id. */
  client: number;
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

type Reply = (msg: unknown) => void;

async function handle(req: Request, client: number, reply: Reply): Promise<void> {
  try {
    switch (req.op) {
      case 'query': {
        const r = await runner(req.tx).query(req.sql, req.params);
        reply({ id: req.id, ok: true, rows: r.rows, rowCount: r.fields.length > 0 ? r.rows.length : (r.affectedRows ?? 0) });
        return;
      }
      case 'copy': {
        // PGlite reads COPY input from a Blob mounted at /dev/blob (PGlite docs, "/dev/blob").
        await runner(req.tx).query(req.sql, [], { blob: new Blob([req.text]) });
        reply({ id: req.id, ok: true, rows: [], rowCount: 0 });
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
            open.set(id, { tx, client, finish, done: Promise.resolve() });
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
        reply({ id: req.id, ok: true, tx: id });
        return;
      }
      case 'end': {
        const t = open.get(req.tx);
        if (!t || t.client !== client) throw new Error(`transaction ${req.tx} is not open`);
        open.delete(req.tx);
        t.finish(req.commit);
        await t.done;
        reply({ id: req.id, ok: true, rows: [], rowCount: 0 });
        return;
      }
      case 'close': {
        if (client !== 0) throw new Error('only the owner closes the database');
        for (const t of open.values()) t.finish(false);
        await Promise.allSettled([...open.values()].map((t) => t.done));
        open.clear();
        await db.close();
        reply({ id: req.id, ok: true, rows: [], rowCount: 0 });
        return;
      }
    }
  } catch (err) {
    reply({ id: req.id, ok: false, error: serial(err) });
  }
}

const clients = new Map<number, MessagePort>();

/** Cut a client off and roll back what it left open. */
function detach(client: number): void {
  const p = clients.get(client);
  if (!p) return;
  clients.delete(client);
  p.close();
  for (const [id, t] of open) {
    if (t.client !== client) continue;
    open.delete(id);
    t.finish(false);
  }
}

type Control = { op: 'attach'; client: number; port: MessagePort } | { op: 'detach'; client: number };

port.on('message', (req: Request | Control) => {
  if (req.op === 'attach') {
    const { client, port: p } = req;
    clients.set(client, p);
    // 'close' fires when either side goes, a terminated thread included.
    p.on('close', () => detach(client));
    p.on('message', (r: Request) => {
      if (r === null || typeof r !== 'object' || typeof r.id !== 'number') return;
      void handle(r, client, (m) => p.postMessage(m));
    });
    return;
  }
  if (req.op === 'detach') {
    detach(req.client);
    return;
  }
  void handle(req, 0, (m) => port.postMessage(m));
});
