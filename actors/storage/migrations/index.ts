import type { Migration } from '../migrate.js';
import { migration001 } from './001-initial.js';

/** Every migration, in version order. Never edit an applied one: add a new version. */
export const MIGRATIONS: readonly Migration[] = [migration001];
