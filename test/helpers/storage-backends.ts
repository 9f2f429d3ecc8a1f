/**
 * Both database backends for storage tests: real PostgreSQL 15 on
 * 127.0.0.1:5432 in a fresh schema per run (dropped afterwards; other suites
 * share the database), and PGlite in a fresh temp directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Database } from '../../actors/storage/db.js';
import { openPg } from '../../actors/storage/pg.js';
import { openPglite } from '../../actors/storage/pglite.js';

export const PG_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

export function randomSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

export interface TestBackend {
  name: 'pg' | 'pglite';
  db: Database;
  /** Close the database and remove its schema or directory. */
  dispose(): Promise<void>;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export async function openTestPg(schema = randomSchema()): Promise<TestBackend> {
  const db = await openPg({ url: PG_URL, schema, max: 4, applicationName: 'starweather-test' });
  return {
    name: 'pg',
    db,
    async dispose() {
      await db.close();
      await dropSchema(schema);
    },
  };
}

export async function openTestPglite(): Promise<TestBackend> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-pglite-'));
  const db = await openPglite({ dataDir: dir });
  return {
    name: 'pglite',
    db,
    async dispose() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const BACKENDS: ReadonlyArray<{ name: 'pg' | 'pglite'; open: () => Promise<TestBackend> }> = [
  { name: 'pg', open: () => openTestPg() },
  { name: 'pglite', open: () => openTestPglite() },
];
