/**
 * What the imagery ingest has handled, by scene: registered (the gateway took
 * the item) or rejected (a 4xx or an unreadable file, with its reason). A new
 * leader, or the same one after a restart, skips these, so a scene is never
 * registered twice and a bad file is not fetched every poll forever.
 */
import type { Migration } from '../migrate.js';

export const migration003: Migration = {
  version: 3,
  name: 'imagery ingest',
  statements: [
    `CREATE TABLE imagery_ingested (
      item_id text PRIMARY KEY CHECK (length(item_id) BETWEEN 1 AND 200),
      source text NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
      outcome text NOT NULL CHECK (outcome IN ('registered', 'rejected')),
      reason text NOT NULL DEFAULT '',
      http_status integer,
      task_id text,
      objects jsonb NOT NULL DEFAULT '[]',
      recorded_at timestamptz NOT NULL DEFAULT now()
    )`,
  ],
};
