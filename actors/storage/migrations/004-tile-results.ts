/**
 * The tile pipeline's state (actors/tile/): one row per scene being tiled,
 * one row per stored tile result, and the rendered products. Keys are the
 * natural ones (scene task id, tile index; item and product name), so a
 * redelivered tile or a replayed finalize writes nothing twice.
 */
import type { Migration } from '../migrate.js';

export const migration004: Migration = {
  version: 4,
  name: 'tile pipeline results',
  statements: [
    // fingerprint: what the scene was read from; a re-registered item with new files resets its tiles.
    `CREATE TABLE tile_scenes (
      task_id text PRIMARY KEY CHECK (length(task_id) BETWEEN 1 AND 200),
      collection_id text NOT NULL,
      item_id text NOT NULL,
      fingerprint text NOT NULL,
      width integer NOT NULL CHECK (width > 0),
      height integer NOT NULL CHECK (height > 0),
      tile_size integer NOT NULL CHECK (tile_size > 0),
      halo integer NOT NULL CHECK (halo >= 0),
      tile_count integer NOT NULL CHECK (tile_count > 0),
      reduce integer NOT NULL CHECK (reduce > 0),
      scene jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    // Rasters are the tile core at 1/reduce resolution, quantised (see actors/storage/tile-results.ts).
    `CREATE TABLE tile_results (
      task_id text NOT NULL REFERENCES tile_scenes (task_id) ON DELETE CASCADE,
      tile_index integer NOT NULL CHECK (tile_index >= 0),
      fingerprint text NOT NULL,
      stats jsonb NOT NULL,
      bt bytea NOT NULL,
      cth bytea NOT NULL,
      cloud bytea NOT NULL,
      host text,
      delivery integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (task_id, tile_index)
    )`,
    // The database is the source of truth for rendered products, so any gateway can serve them; the file store is its cache.
    `CREATE TABLE tile_products (
      collection_id text NOT NULL,
      item_id text NOT NULL,
      name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9.-]{0,63}$'),
      media_type text NOT NULL,
      data bytea NOT NULL,
      etag text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (collection_id, item_id, name)
    )`,
  ],
};
