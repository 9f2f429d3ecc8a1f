/**
 * Tropical-cyclone tracks (actors/storage/storms.ts): a track per storm,
 * living across scenes, and one fix per (scene, track). Natural keys make a
 * redelivered finalize write nothing twice: a fix is keyed on its scene and
 * the fix's 0.1° cell (the kernel gives the same fix for the same scene), and
 * a track holds at most one fix per scene. storm_basins holds one row per
 * basin that associations lock (SELECT … FOR UPDATE), so two scenes of one
 * basin are associated one after the other.
 */
import type { Migration } from '../migrate.js';

export const migration007: Migration = {
  version: 7,
  name: 'storm tracks',
  statements: [
    `CREATE TABLE storm_basins (basin text PRIMARY KEY CHECK (length(basin) BETWEEN 1 AND 40))`,
    `CREATE TABLE storm_tracks (
      id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 120),
      basin text NOT NULL REFERENCES storm_basins (basin),
      first_at timestamptz NOT NULL,
      last_at timestamptz NOT NULL,
      lat double precision NOT NULL,
      lon double precision NOT NULL,
      scenes integer NOT NULL CHECK (scenes >= 1),
      final_t double precision NOT NULL,
      ci double precision NOT NULL,
      vmax_kt double precision NOT NULL,
      mslp_hpa double precision NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX storm_tracks_basin_last ON storm_tracks (basin, last_at)`,
    `CREATE INDEX storm_tracks_last ON storm_tracks (last_at DESC, id)`,
    `CREATE TABLE storm_fixes (
      scene_key text NOT NULL CHECK (length(scene_key) BETWEEN 1 AND 600),
      cell bigint NOT NULL,
      track_id text NOT NULL REFERENCES storm_tracks (id) ON DELETE CASCADE,
      observed_at timestamptz NOT NULL,
      collection_id text NOT NULL,
      item_id text NOT NULL,
      platform text NOT NULL,
      lat double precision NOT NULL,
      lon double precision NOT NULL,
      scene text NOT NULL CHECK (scene IN ('eye', 'cdo')),
      eye_temp_k double precision,
      cloud_temp_k double precision NOT NULL,
      raw_t double precision NOT NULL,
      adj_raw_t double precision NOT NULL,
      final_t double precision NOT NULL,
      ci double precision NOT NULL,
      weakening boolean NOT NULL,
      vmax_kt double precision NOT NULL,
      mslp_hpa double precision NOT NULL,
      PRIMARY KEY (scene_key, cell),
      UNIQUE (track_id, scene_key)
    )`,
    `CREATE INDEX storm_fixes_track_time ON storm_fixes (track_id, observed_at)`,
  ],
};
