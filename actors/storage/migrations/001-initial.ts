/**
 * The first schema. Each statement runs on PostgreSQL 15 and on PGlite
 * (PostgreSQL 18 in WASM, no PostGIS), so spatial columns use the built-in
 * geometric types: `box` for bboxes with a GiST index, `polygon[]` for exact
 * footprint tests.
 */
import type { Migration } from '../migrate.js';

export const migration001: Migration = {
  version: 1,
  name: 'initial schema',
  statements: [
    // Catalog: NORAD ids are 5 digits today and 9 digits under the Alpha-5 /
    // 9-digit catalog plans; integer holds up to 2,147,483,647.
    `CREATE TABLE catalog_objects (
      norad_id integer PRIMARY KEY CHECK (norad_id BETWEEN 1 AND 999999999),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      intl_designator text,
      groups text[] NOT NULL DEFAULT '{}',
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'decayed', 'unknown')),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    // "Objects in group X" is the tracker's start-up query; GIN answers array containment (@>).
    `CREATE INDEX catalog_objects_groups_gin ON catalog_objects USING gin (groups)`,

    // Every OMM/TLE received; the natural key (object, epoch) makes a replayed ingest a no-op.
    `CREATE TABLE element_sets (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      norad_id integer NOT NULL REFERENCES catalog_objects (norad_id) ON DELETE CASCADE,
      epoch timestamptz NOT NULL,
      source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
      format text NOT NULL CHECK (format IN ('omm', 'tle')),
      omm jsonb,
      tle_line1 text,
      tle_line2 text,
      received_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT element_sets_natural_key UNIQUE (norad_id, epoch),
      CONSTRAINT element_sets_has_payload CHECK (omm IS NOT NULL OR (tle_line1 IS NOT NULL AND tle_line2 IS NOT NULL))
    )`,

    `CREATE TABLE stac_collections (
      id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
      doc jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    // dt_start/dt_end hold the item's time span (datetime, or start/end_datetime).
    // bbox is a box for the GiST index (&& is index-assisted); footprint keeps each
    // polygon's outer ring so an intersects search can refine the bbox candidates exactly.
    `CREATE TABLE stac_items (
      collection_id text NOT NULL REFERENCES stac_collections (id) ON DELETE CASCADE,
      id text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
      doc jsonb NOT NULL,
      dt_start timestamptz,
      dt_end timestamptz,
      bbox box,
      footprint polygon[],
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (collection_id, id),
      CHECK (dt_end IS NULL OR dt_start IS NULL OR dt_end >= dt_start)
    )`,
    `CREATE INDEX stac_items_bbox_gist ON stac_items USING gist (bbox)`,
    `CREATE INDEX stac_items_time ON stac_items (collection_id, dt_start, dt_end)`,

    `CREATE TABLE tasks (
      id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
      kind text NOT NULL,
      item text,
      priority smallint NOT NULL DEFAULT 0,
      state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'l1', 'l2', 'l3', 'done', 'failed')),
      attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      error text,
      queued_at timestamptz NOT NULL DEFAULT now(),
      l1_at timestamptz,
      l2_at timestamptz,
      l3_at timestamptz,
      done_at timestamptz,
      failed_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    // The status page and the cache refill read unfinished tasks only; a partial index stays small.
    `CREATE INDEX tasks_open ON tasks (updated_at) WHERE state NOT IN ('done', 'failed')`,

    // An alert's id is its natural key (e.g. conjunction:<a>:<b>:<tca>), so re-raising is a no-op.
    `CREATE TABLE alerts (
      id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 300),
      kind text NOT NULL,
      severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
      norad_id integer,
      message text NOT NULL,
      payload jsonb NOT NULL DEFAULT '{}',
      raised_at timestamptz NOT NULL,
      acknowledged_at timestamptz
    )`,
    `CREATE INDEX alerts_raised ON alerts (raised_at DESC)`,

    // dedupe_key = queue:taskId, or queue:sha256(original) for bytes that never decoded.
    `CREATE TABLE dead_letters (
      dedupe_key text PRIMARY KEY,
      queue text NOT NULL,
      task_id text,
      kind text,
      code text NOT NULL,
      reason text NOT NULL,
      deliveries integer NOT NULL,
      failed_at timestamptz NOT NULL,
      original bytea NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX dead_letters_failed ON dead_letters (failed_at DESC)`,

    // weather_metrics: one value of one product for one grid cell at one time, for
    // billions of rows. Range-partitioned by month on observed_at, so a time-range
    // query touches only its months and retention is a DROP TABLE, not a DELETE.
    `CREATE TABLE weather_metrics (
      observed_at timestamptz NOT NULL,
      satellite text NOT NULL,
      product text NOT NULL,
      cell_id bigint NOT NULL,
      value double precision NOT NULL,
      quality smallint NOT NULL DEFAULT 0,
      task_id text,
      CONSTRAINT weather_metrics_natural_key PRIMARY KEY (satellite, product, cell_id, observed_at)
    ) PARTITION BY RANGE (observed_at)`,
    // Why the primary key: it is the natural key that makes replayed ingest a no-op
    // (ON CONFLICT DO NOTHING). PostgreSQL requires unique keys on a partitioned table
    // to contain the partition column, which observed_at is. Column order puts the
    // equality columns first, so "series of one cell and product" is a narrow range scan.
    `COMMENT ON INDEX weather_metrics_natural_key IS 'Natural key (satellite, product, cell_id, observed_at): idempotent ingest via ON CONFLICT; includes the partition column as PostgreSQL requires; equality columns first so one cell''s time series is a narrow B-tree range scan.'`,
    // Why BRIN on observed_at: rows arrive in time order, so block ranges are well
    // correlated; a BRIN index is a few hundred KB per billion rows where a B-tree would
    // be ~20 GB and slow every insert. Month pruning picks the partitions; BRIN narrows
    // sub-month ranges inside them.
    `CREATE INDEX weather_metrics_observed_brin ON weather_metrics USING brin (observed_at)`,
    `COMMENT ON INDEX weather_metrics_observed_brin IS 'BRIN on observed_at: rows arrive in time order, so a BRIN is ~1000x smaller than a B-tree and nearly free on insert; narrows sub-month time ranges inside a partition that pruning already selected.'`,
  ],
};
