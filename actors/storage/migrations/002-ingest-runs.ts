/**
 * One row per ingest run (catalog today, imagery later): what was asked for,
 * what the source answered, what was accepted and rejected and why. It is the
 * ingest report operators read, and the memory of CelesTrak's rules: the last
 * download of a group decides whether another is allowed yet (2 h minimum).
 */
import type { Migration } from '../migrate.js';

export const migration002: Migration = {
  version: 2,
  name: 'ingest runs',
  statements: [
    `CREATE TABLE ingest_runs (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 50),
      grp text NOT NULL CHECK (length(grp) BETWEEN 1 AND 100),
      source text NOT NULL CHECK (length(source) BETWEEN 1 AND 2000),
      format text,
      outcome text NOT NULL CHECK (outcome IN ('ok', 'not_modified', 'http_error', 'failed', 'skipped')),
      http_status integer,
      records integer NOT NULL DEFAULT 0,
      accepted integer NOT NULL DEFAULT 0,
      rejected integer NOT NULL DEFAULT 0,
      rejected_by_code jsonb NOT NULL DEFAULT '{}',
      reject_samples jsonb NOT NULL DEFAULT '[]',
      objects_new integer NOT NULL DEFAULT 0,
      objects_changed integer NOT NULL DEFAULT 0,
      element_sets_new integer NOT NULL DEFAULT 0,
      bytes bigint,
      snapshot_date date,
      host_id text,
      fence_token bigint,
      message text NOT NULL DEFAULT '',
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL
    )`,
    // "When was this group last downloaded?" and the latest runs for status: newest first per (kind, group).
    `CREATE INDEX ingest_runs_recent ON ingest_runs (kind, grp, started_at DESC)`,
  ],
};
