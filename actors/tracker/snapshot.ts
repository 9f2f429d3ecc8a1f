/**
 * The CelesTrak "active" catalog snapshot shipped with the project: the
 * embedded default's offline fallback when CelesTrak cannot be reached.
 * Source and terms: snapshot/README.md.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseTleText, type TleParseResult } from './tle.js';

export const SNAPSHOT_FILE = 'celestrak-active-2026-05-07.tle';
/** 15,347 objects: the count the snapshot must parse to, with zero rejects. */
export const SNAPSHOT_OBJECT_COUNT = 15347;

// Compiled to dist/actors/tracker/, the data stays in the source tree.
export const SNAPSHOT_PATH = fileURLToPath(new URL(`../../../actors/tracker/snapshot/${SNAPSHOT_FILE}`, import.meta.url));

export async function loadSnapshot(path = SNAPSHOT_PATH): Promise<TleParseResult> {
  return parseTleText(await readFile(path, 'utf8'));
}
