/**
 * Dead letters that end their task, and re-drives (actors/runtime/dead-letter-relay.ts,
 * POST /tasks/{id}/retry):
 * - dead_letters.msg_id: the work message id it was delivered under (the task
 *   id, `<id>#retry<n>` or `<id>#auto`), part of the dedupe key for re-driven
 *   tasks, so a second dead letter of the same task is recorded too;
 * - dead_letters.owner_task_id: the task row it fails (the task itself, or the
 *   scene a tile or finalize task belongs to);
 * - dead_letters.deliveries_from: how the delivery count is known ('delivery',
 *   'advisory'; null for rows from before);
 * - dead_letters.redriven_at / redrive_msg_id / redrive_enqueued_at: re-driven
 *   (committed first), under which id, and when the bus confirmed the enqueue
 *   (a re-drive not confirmed is enqueued again by the relay);
 * - tasks.redrives: re-drives so far (the n of `#retry<n>`); tasks.reopened_at:
 *   the last re-drive, so a dead letter from before it never fails the task again.
 */
import type { Migration } from '../migrate.js';

export const migration006: Migration = {
  version: 6,
  name: 'dead letter re-drive',
  statements: [
    `ALTER TABLE dead_letters ADD COLUMN msg_id text`,
    `ALTER TABLE dead_letters ADD COLUMN owner_task_id text`,
    `ALTER TABLE dead_letters ADD COLUMN deliveries_from text CHECK (deliveries_from IN ('delivery', 'advisory'))`,
    `ALTER TABLE dead_letters ADD COLUMN redriven_at timestamptz`,
    `ALTER TABLE dead_letters ADD COLUMN redrive_msg_id text`,
    `ALTER TABLE dead_letters ADD COLUMN redrive_enqueued_at timestamptz`,
    `CREATE INDEX dead_letters_redrive_unconfirmed ON dead_letters (redriven_at) WHERE redriven_at IS NOT NULL AND redrive_enqueued_at IS NULL`,
    `UPDATE dead_letters SET owner_task_id = task_id WHERE owner_task_id IS NULL`,
    `CREATE INDEX dead_letters_owner_open ON dead_letters (owner_task_id) WHERE redriven_at IS NULL`,
    `ALTER TABLE tasks ADD COLUMN redrives integer NOT NULL DEFAULT 0 CHECK (redrives >= 0)`,
    `ALTER TABLE tasks ADD COLUMN reopened_at timestamptz`,
  ],
};
