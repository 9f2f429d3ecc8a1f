/**
 * classifyError (actors/runtime/transient.ts) over real error objects, each
 * produced by the real driver against a real fault: a PostgreSQL port where
 * nothing listens, a session terminated by the server (57P01), a role over
 * its connection limit (53300), a statement timeout (57014), a closed pool,
 * a closed PGlite, a closed NATS connection, a NATS request timeout and no
 * responders, a fetch to a closed port and one that times out, a Redis
 * client with no server. The controls (bugs, constraint violations, schema
 * errors, a missing stream) must not be called transient.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { PGlite } from '@electric-sql/pglite';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { classifyError, isTransientError, type ErrorClass } from '../../actors/runtime/transient.js';
import { openPg } from '../../actors/storage/pg.js';
import { StorageError } from '../../actors/storage/errors.js';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { ProtocolError, StarWeatherError } from '../../protocol/errors.js';
import { WorkTaskMessage } from '../../protocol/messages/work-task.js';
import { freePort } from '../helpers/nats-server.js';
import { PG_URL } from '../helpers/storage-backends.js';
import { NATS_URL, freshNames } from './nats-fixtures.js';

async function caught(fn: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, got none');
}

function expectClass(err: unknown, kind: ErrorClass['kind'], dependency?: ErrorClass['dependency'], reason?: RegExp): ErrorClass {
  const c = classifyError(err);
  const what = `${(err as Error)?.name}: ${(err as Error)?.message} (code ${String((err as { code?: unknown })?.code)}) → ${JSON.stringify(c)}`;
  assert.equal(c.kind, kind, what);
  if (dependency !== undefined) assert.equal(c.dependency, dependency, what);
  if (reason) assert.match(c.reason, reason, what);
  return c;
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

test('PostgreSQL: nothing listening (raw pg and through openPg) is transient, database', async () => {
  const port = await freePort();
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMillis: 2000 });
  const raw = await caught(() => client.connect());
  expectClass(raw, 'transient', 'network', /ECONNREFUSED/);
  // The storage layer wraps it: the wrapper names the dependency.
  const wrapped = await caught(() => openPg({ url: `postgres://postgres@127.0.0.1:${port}/test` }));
  assert.ok(wrapped instanceof StorageError);
  expectClass(wrapped, 'transient', 'database', /ECONNREFUSED/);
  // A pool that cannot connect, as a handler sees it mid-outage.
  const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMillis: 2000 });
  pool.on('error', () => {});
  expectClass(await caught(() => pool.query('SELECT 1')), 'transient', 'network', /ECONNREFUSED/);
  await pool.end();
});

test('PostgreSQL: a session terminated by the server (57P01), then the dead client, are transient', async () => {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  cleanups.push(() => admin.end());
  const victim = new pg.Client({ connectionString: PG_URL });
  victim.on('error', () => {});
  await victim.connect();
  const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const pending = caught(() => victim.query('SELECT pg_sleep(30)'));
  await new Promise((r) => setTimeout(r, 200));
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  const terminated = await pending;
  expectClass(terminated, 'transient', 'database', /57P01|connection_terminated/);
  // The next query on the same client: "not queryable".
  expectClass(await caught(() => victim.query('SELECT 1')), 'transient', 'database');
  await victim.end().catch(() => undefined);
});

test('PostgreSQL: too many connections for a role (53300) is transient; a statement timeout (57014) too', async () => {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  cleanups.push(() => admin.end());
  const role = `sw_cap_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 0`);
  cleanups.push(() => admin.query(`DROP ROLE IF EXISTS ${role}`));
  const capped = new pg.Client({ connectionString: PG_URL.replace('postgres@', `${role}@`) });
  const tooMany = await caught(() => capped.connect());
  assert.equal((tooMany as { code?: string }).code, '53300');
  expectClass(tooMany, 'transient', 'database', /53300 too_many_connections/);

  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  cleanups.push(() => c.end());
  await c.query('SET statement_timeout = 20');
  const cancelled = await caught(() => c.query('SELECT pg_sleep(2)'));
  expectClass(cancelled, 'transient', 'database', /57014/);
});

test('PostgreSQL: errors in the query itself are not transient', async () => {
  const db = await openPg({ url: PG_URL, schema: `t_${randomBytes(5).toString('hex')}` });
  cleanups.push(async () => {
    await db.query(`DROP SCHEMA ${db.schema} CASCADE`);
    await db.close();
  });
  expectClass(await caught(() => db.query('SELECT * FROM no_such_table')), 'failure', 'database', /42P01/);
  await db.query('CREATE TABLE u (id text PRIMARY KEY)');
  await db.query(`INSERT INTO u VALUES ('a')`);
  expectClass(await caught(() => db.query(`INSERT INTO u VALUES ('a')`)), 'failure', 'database', /23505/);
  expectClass(await caught(() => db.query('SELECT 1/0')), 'failure', 'database', /22012/);
  // A closed pool: this process is shutting its storage down; another host can do the task.
  await db.close();
  expectClass(await caught(() => db.query('SELECT 1')), 'transient', 'database', /pool_ended/);
});

test('PGlite: a closed database is transient', async () => {
  const lite = new PGlite();
  await lite.query('SELECT 1');
  await lite.close();
  expectClass(await caught(() => lite.query('SELECT 1')), 'transient', 'database', /pglite_closed/);
});

test('NATS: closed connection, request timeout, no responders and a refused connect are transient; a missing stream is not', async () => {
  const nc = await connect({ servers: NATS_URL });
  const sub = nc.subscribe('sw.test.silent.>');
  const timedOut = await caught(() => nc.request(`sw.test.silent.${randomBytes(4).toString('hex')}`, 'x', { timeout: 50 }));
  expectClass(timedOut, 'transient', 'bus');
  sub.unsubscribe();
  const noResponders = await caught(() => nc.request(`sw.test.nobody.${randomBytes(4).toString('hex')}`, 'x', { timeout: 1000 }));
  expectClass(noResponders, 'transient', 'bus');
  const jsm = await jetstreamManager(nc);
  const missing = await caught(() => jsm.streams.info(`NO_SUCH_${randomBytes(4).toString('hex')}`));
  expectClass(missing, 'failure', 'bus');
  await nc.close();
  const closed = await caught(() => nc.request('sw.test.x', 'x', { timeout: 100 }));
  expectClass(closed, 'transient', 'bus', /Closed/);

  const port = await freePort();
  const refused = await caught(() => connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false, timeout: 1000 }));
  expectClass(refused, 'transient');
  // Our transport's own wrappers: SW_ERR_TRANSPORT with the client error as cause, and ClosedError.
  const wrapped = await caught(() => connectNats({ servers: `nats://127.0.0.1:${port}`, names: freshNames() }));
  assert.ok(wrapped instanceof StarWeatherError && wrapped.code === 'SW_ERR_TRANSPORT');
  expectClass(wrapped, 'transient');
  const t = await connectNats({ servers: NATS_URL, names: freshNames() });
  await t.close();
  const closedTransport = await caught(() => t.enqueue('weather', 'x', new Uint8Array(1)));
  expectClass(closedTransport, 'transient', 'bus', /SW_ERR_CLOSED/);
});

test('HTTP: a fetch to a closed port and a fetch that times out are transient, network', async () => {
  const port = await freePort();
  expectClass(await caught(() => fetch(`http://127.0.0.1:${port}/`)), 'transient', 'network', /ECONNREFUSED/);
  // A server that accepts and never answers.
  const sockets = new Set<Socket>();
  const silent: Server = createServer((sock) => void sockets.add(sock));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const sock of sockets) sock.destroy();
    return new Promise((r) => silent.close(r));
  });
  const addr = silent.address() as { port: number };
  const slow = await caught(() => fetch(`http://127.0.0.1:${addr.port}/`, { signal: AbortSignal.timeout(100) }));
  expectClass(slow, 'transient', undefined, /timeout/);
});

test('Redis: a client with no server is transient, cache', async () => {
  const port = await freePort();
  const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, enableOfflineQueue: false });
  r.on('error', () => {});
  const err = await caught(async () => {
    await r.connect().catch(() => undefined);
    await r.get('k');
  });
  expectClass(err, 'transient');
  r.disconnect();
});

test('validation errors are invalid; bugs and unknown throws are ordinary failures; the result never throws', async () => {
  const decode = await caught(() => WorkTaskMessage.decode(new Uint8Array([1, 2, 3])));
  assert.ok(decode instanceof ProtocolError);
  expectClass(decode, 'invalid');
  expectClass(new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'bad'), 'invalid');
  expectClass(new TypeError("Cannot read properties of undefined (reading 'x')"), 'failure');
  expectClass(new Error('poison pill'), 'failure');
  expectClass('a string', 'failure');
  expectClass(null, 'failure');
  expectClass(new StarWeatherError('SW_ERR_NOT_FOUND', 'scene has no tiling'), 'failure');
  // SW_ERR_TIMEOUT / SW_ERR_UNAVAILABLE from our own code: transient whatever their cause lacks.
  expectClass(new StarWeatherError('SW_ERR_TIMEOUT', 'no answer'), 'transient');
  expectClass(new StarWeatherError('SW_ERR_UNAVAILABLE', 'down'), 'transient');
  // A cause cycle and a throwing getter must not hang or throw.
  const a = new Error('a') as Error & { cause?: unknown };
  const b = new Error('b', { cause: a });
  a.cause = b;
  expectClass(a, 'failure');
  const hostile = new Error('hostile');
  Object.defineProperty(hostile, 'cause', {
    get() {
      throw new Error('no');
    },
  });
  expectClass(hostile, 'failure');
  assert.equal(isTransientError(new StarWeatherError('SW_ERR_TIMEOUT', 'no answer')), true);
  assert.equal(isTransientError(new Error('poison pill')), false);
});
