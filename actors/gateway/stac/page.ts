/**
 * Search pages and item answers built from stored JSON text, never from
 * parsed documents (issue 10 item 3; issue 16 security 1). A page:
 *   1. reads the keys and stored sizes of up to `limit` matching items
 *      (storage searchItemKeys: no document is read);
 *   2. takes items in search order while their stored sizes add up to at
 *      most `maxBytes`; the first item is always taken, so an item stored
 *      before the caps that is alone larger than a page is served alone on
 *      its page, and paging never stalls on it;
 *   3. reads those items as text in batches of about READ_BATCH_BYTES,
 *      yielding to the event loop between batches;
 *   4. answers with a stream that writes the page in slices of at most
 *      SLICE_CHARS characters, so no single write converts megabytes.
 * Its `next` link continues after the last item taken, with the same keyset
 * token as before: a page cut short by the byte cap loses nothing.
 * An item's served JSON is its stored document without `links`, as the
 * database writes it, with the server's navigation links and the item's
 * other links spliced in at the end.
 */
import { Readable } from 'node:stream';
import type { Queryable } from '../../storage/db.js';
import { countItemsUpTo, itemTexts, searchItemKeys, type ItemCursor, type ItemSearch, type ItemText } from '../../storage/stac.js';
import { LoopSlicer, yieldNow } from '../slice.js';
import { itemNavLinks, OWN_ITEM_RELS, type Link } from './links.js';

/** Item texts read per query: bounds one query's work (PGlite runs on this thread; jsonb→text costs ~20 ms per MiB there). */
export const READ_BATCH_BYTES = 256 * 1024;
/** Largest string handed to one socket write (about 1 ms to encode). */
export const SLICE_CHARS = 256 * 1024;
/**
 * A page says `numberMatched` when the search matches at most this many
 * items: counting reads at most this many + 1 index/row entries (one
 * statement, on PGlite on this thread), so the count stays a few ms.
 * Beyond it numberMatched is left out (STAC API: it is optional).
 */
export const NUMBER_MATCHED_MAX = 10_000;

export interface ItemPageResult {
  /** The page as JSON parts, in order; their concatenation is the answer. */
  parts: string[];
  numberReturned: number;
  /** All items the search matches (every page), or null when more than NUMBER_MATCHED_MAX do. */
  numberMatched: number | null;
  /** Where the next page starts; null on the last page. */
  next: ItemCursor | null;
  /** Sum of the stored sizes of the items served. */
  itemBytes: number;
}

/** One item's JSON parts: its document without links, then the links array, then the closing brace. */
export function itemParts(root: string, t: ItemText): string[] {
  const nav = JSON.stringify(itemNavLinks(root, t.collection, t.id));
  const links = t.links === '[]' ? nav : `${nav.slice(0, -1)}, ${t.links.slice(1)}`;
  // jsonb writes an object as `{...}`; a stored item always has an id, so the object is not empty.
  const open = t.body.endsWith('}') ? t.body.slice(0, -1) : t.body;
  return [open, open.length > 1 ? ', "links": ' : '"links": ', links, '}'];
}

/** Read `keys` as texts, in batches, yielding between them. */
async function readTexts(db: Queryable, keys: Array<{ cursor: ItemCursor; bytes: number }>): Promise<ItemText[]> {
  const out: ItemText[] = [];
  let i = 0;
  while (i < keys.length) {
    const batch: Array<{ collection: string; id: string }> = [];
    let bytes = 0;
    while (i < keys.length && (batch.length === 0 || bytes + keys[i]!.bytes <= READ_BATCH_BYTES)) {
      batch.push({ collection: keys[i]!.cursor.collection, id: keys[i]!.cursor.id });
      bytes += keys[i]!.bytes;
      i++;
    }
    out.push(...(await itemTexts(db, batch, OWN_ITEM_RELS)));
    // Always: the query may have resolved without I/O (PGlite), and the next one would follow at once.
    if (i < keys.length) await yieldNow();
  }
  return out;
}

/**
 * One page of a search as JSON parts. `envelope(next)` gives the page's
 * links for its next cursor (null: no next link).
 */
export async function buildItemPage(
  db: Queryable,
  search: Omit<ItemSearch, 'offset' | 'limit'>,
  limit: number,
  after: ItemCursor | null,
  maxBytes: number,
  root: string,
  linksFor: (next: ItemCursor | null) => Link[],
): Promise<ItemPageResult> {
  const found = await searchItemKeys(db, { ...search, limit }, after);
  // Over the whole search, not the part after the token: the same on every page.
  const matched = await countItemsUpTo(db, search, NUMBER_MATCHED_MAX);
  const taken: typeof found.keys = [];
  let sum = 0;
  for (const k of found.keys) {
    if (taken.length > 0 && sum + k.bytes > maxBytes) break;
    taken.push(k);
    sum += k.bytes;
  }
  const next = taken.length < found.keys.length || found.more ? (taken[taken.length - 1]?.cursor ?? null) : null;
  const texts = await readTexts(db, taken);
  const slicer = new LoopSlicer();
  const parts: string[] = ['{"type": "FeatureCollection", "features": ['];
  for (let n = 0; n < texts.length; n++) {
    if (n > 0) parts.push(', ');
    parts.push(...itemParts(root, texts[n]!));
    await slicer.maybeYield();
  }
  const counted = matched === null ? '' : `, "numberMatched": ${matched}`;
  parts.push(`], "links": ${JSON.stringify(linksFor(next))}, "numberReturned": ${texts.length}${counted}}`);
  return { parts, numberReturned: texts.length, numberMatched: matched, next, itemBytes: texts.reduce((s, t) => s + t.bytes, 0) };
}

/** A stored item's JSON parts (null when it does not exist). */
export async function buildItem(db: Queryable, root: string, collection: string, id: string): Promise<string[] | null> {
  const [t] = await itemTexts(db, [{ collection, id }], OWN_ITEM_RELS);
  return t ? itemParts(root, t) : null;
}

/** Where to cut `s` at or before `at` without splitting a surrogate pair (a split pair would be written as U+FFFD). */
function cutAt(s: string, at: number): number {
  if (at >= s.length) return s.length;
  const c = s.charCodeAt(at - 1);
  return c >= 0xd800 && c <= 0xdbff ? at - 1 : at;
}

/** A readable stream of `parts`: small parts joined, large ones cut, each write at most SLICE_CHARS characters. */
export function partsStream(parts: readonly string[]): Readable {
  function* slices(): Generator<string> {
    let pending = '';
    for (const p of parts) {
      if (pending.length + p.length <= SLICE_CHARS) {
        pending += p;
        continue;
      }
      if (pending) yield pending;
      pending = '';
      let at = 0;
      while (p.length - at > SLICE_CHARS) {
        const end = cutAt(p, at + SLICE_CHARS);
        yield p.slice(at, end);
        at = end;
      }
      pending = p.slice(at);
    }
    if (pending) yield pending;
  }
  return Readable.from(slices(), { objectMode: false });
}
