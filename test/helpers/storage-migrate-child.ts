/**
 * Child process for the concurrent-migration test: opens PostgreSQL in the
 * given schema, waits for the shared start instant, migrates, and prints the
 * result as one JSON line.
 * argv: <schema> <startAtMs>
 */
import { migrate, type Migration } from '../../actors/storage/migrate.js';
import { MIGRATIONS } from '../../actors/storage/migrations/index.js';
import { openPg } from '../../actors/storage/pg.js';
import { PG_URL } from './storage-backends.js';

/** Extra versions for the test: a slow one widens the window in which the two processes overlap. */
export const TEST_MIGRATIONS: readonly Migration[] = [
  ...MIGRATIONS,
  { version: 1001, name: 'test: slow', statements: ['SELECT pg_sleep(0.3)', 'CREATE TABLE migrate_probe (id integer PRIMARY KEY)'] },
  { version: 1002, name: 'test: insert', statements: ["INSERT INTO migrate_probe (id) VALUES (1)"] },
];

async function main(): Promise<void> {
  const [schema, startAt] = process.argv.slice(2);
  if (!schema || !startAt) throw new Error('usage: storage-migrate-child <schema> <startAtMs>');
  const db = await openPg({ url: PG_URL, schema, max: 2 });
  try {
    await db.query('SELECT 1');
    const wait = Number(startAt) - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const result = await migrate(db, TEST_MIGRATIONS);
    process.stdout.write(JSON.stringify({ pid: process.pid, ...result }) + '\n');
  } finally {
    await db.close();
  }
}

// `node --test dist/test/` also runs files under test/helpers; without arguments this module does nothing.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!) && process.argv.length > 3) {
  main().catch((err) => {
    process.stderr.write(String(err?.stack ?? err) + '\n');
    process.exit(1);
  });
}
