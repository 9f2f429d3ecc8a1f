import type { Migration } from '../migrate.js';
import { migration001 } from './001-initial.js';
import { migration002 } from './002-ingest-runs.js';
import { migration003 } from './003-imagery-ingest.js';
import { migration004 } from './004-tile-results.js';
import { migration005 } from './005-stac-item-bytes.js';
import { migration006 } from './006-dead-letter-redrive.js';
import { migration007 } from './007-storm-tracks.js';

/** Every migration, in version order. Never edit an applied one: add a new version. */
export const MIGRATIONS: readonly Migration[] = [migration001, migration002, migration003, migration004, migration005, migration006, migration007];
