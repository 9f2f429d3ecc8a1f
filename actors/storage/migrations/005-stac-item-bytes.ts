/**
 * The size of each stored STAC item (its compact JSON in bytes), so a search
 * page can stop at a byte cap from the index row alone, before any document
 * is read (actors/gateway/stac/page.ts). Rows from before this column get the
 * size of their jsonb text form, which is within a few percent of the compact
 * JSON and never smaller.
 */
import type { Migration } from '../migrate.js';

export const migration005: Migration = {
  version: 5,
  name: 'stac item bytes',
  statements: [
    `ALTER TABLE stac_items ADD COLUMN doc_bytes integer`,
    `UPDATE stac_items SET doc_bytes = octet_length(doc::text)`,
    // No default: every writer states the size (actors/storage/stac.ts), so a new write path cannot skip the caps silently.
    `ALTER TABLE stac_items ALTER COLUMN doc_bytes SET NOT NULL`,
    `ALTER TABLE stac_items ADD CONSTRAINT stac_items_doc_bytes_positive CHECK (doc_bytes > 0)`,
  ],
};
