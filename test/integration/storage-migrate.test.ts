/**
 * Migrations: two processes migrating the same fresh schema at the same
 * moment apply each version exactly once; a rerun is a no-op; an edited
 * applied migration is refused; PGlite takes the same path.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { checksum, migrate } from '../../actors/storage/migrate.js';
import { openPg } from '../../actors/storage/pg.js';
import { StorageError } from '../../actors/storage/errors.js';
import { dropSchema, openTestPglite, PG_URL, randomSchema } from '../helpers/storage-backends.js';
import { TEST_MIGRATIONS } from '../helpers/storage-migrate-child.js';

const CHILD = fileURLToPath(new URL('../helpers/storage-migrate-child.js', import.meta.url));

interface ChildResult {
  pid: number;
  applied: number[];
  current: number;
}

function runChild(schema: string, startAt: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, schema, String(startAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`child exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim()) as ChildResult);
      } catch (e) {
        reject(new Error(`bad child output ${JSON.stringify(out)}: ${err}`, { cause: e }));
      }
    });
  });
}

test('two processes migrate the same schema at the same moment: each version applied exactly once', async () => {
  const schema = randomSchema();
  try {
    const startAt = Date.now() + 1500;
    const [a, b] = await Promise.all([runChild(schema, startAt), runChild(schema, startAt)]);
    const all = TEST_MIGRATIONS.map((m) => m.version);
    assert.deepEqual([...a.applied, ...b.applied].sort((x, y) => x - y), all, 'every version applied once, by one of them');
    assert.equal(a.applied.filter((v) => b.applied.includes(v)).length, 0, 'no version applied by both');
    assert.equal(a.current, 1002);
    assert.equal(b.current, 1002);

    const db = await openPg({ url: PG_URL, schema, max: 1 });
    try {
      const r = await db.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version');
      assert.deepEqual(r.rows.map((x) => x.version), all);
      assert.deepEqual(r.rows.map((x) => x.checksum), TEST_MIGRATIONS.map(checksum));
      const probe = await db.query<{ n: string }>('SELECT count(*) AS n FROM migrate_probe');
      assert.equal(Number(probe.rows[0]?.n), 1, 'the data migration ran once');
      assert.deepEqual((await migrate(db, TEST_MIGRATIONS)).applied, [], 'a third start applies nothing');
    } finally {
      await db.close();
    }
  } finally {
    await dropSchema(schema);
  }
});

test('an applied migration that was edited is refused', async () => {
  const schema = randomSchema();
  const db = await openPg({ url: PG_URL, schema, max: 2 });
  try {
    await migrate(db);
    const edited = TEST_MIGRATIONS.map((m) => (m.version === 1 ? { ...m, statements: [...m.statements, 'SELECT 1'] } : m));
    await assert.rejects(migrate(db, edited), (err: unknown) => err instanceof StorageError && /was changed after it was applied/.test(err.message));
  } finally {
    await db.close();
    await dropSchema(schema);
  }
});

test('PGlite: concurrent migrate calls in one process take the same locked path', async () => {
  const b = await openTestPglite();
  try {
    const [x, y] = await Promise.all([migrate(b.db, TEST_MIGRATIONS), migrate(b.db, TEST_MIGRATIONS)]);
    assert.deepEqual([...x.applied, ...y.applied].sort((p, q) => p - q), TEST_MIGRATIONS.map((m) => m.version));
    const probe = await b.db.query<{ n: number }>('SELECT count(*)::int AS n FROM migrate_probe');
    assert.equal(probe.rows[0]?.n, 1);
  } finally {
    await b.dispose();
  }
});
