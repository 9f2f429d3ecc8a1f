/**
 * A JSON document read one top-level array element at a time, so a catalog
 * of tens of megabytes is never one JSON.parse call on the event loop (a
 * 10 MB parse is a 50-100 ms synchronous stretch, longer under load). The
 * scanner only finds where each element ends (strings, escapes and nesting);
 * each element is then JSON.parse'd on its own, so JSON.parse still decides
 * what is valid JSON. A document that is not a well-formed array, or not
 * valid JSON anywhere, comes out as one `malformed` step at the end, which
 * the caller turns into the document-level rejection a whole-document
 * JSON.parse would have given.
 */

/** One step of the scan. `progress` only hands control back (a long stretch of text without an element end). */
export type JsonElementStep =
  | { readonly kind: 'element'; readonly index: number; readonly value: unknown }
  /** An element larger than `maxElementBytes`: not parsed, reported with its 1-based index. */
  | { readonly kind: 'oversized'; readonly index: number; readonly chars: number }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'progress' };

export interface JsonElementOptions {
  /** Elements longer than this (in UTF-16 units) are not parsed (default 1 MiB; an OMM record is about 700). */
  maxElementChars?: number;
  /** Characters scanned between `progress` steps (default 64 Ki). */
  progressEvery?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function parseError(err: unknown): string {
  return `not JSON: ${(err as Error).message}`;
}

/**
 * Steps through `text`: a top-level array gives one `element` per item (a
 * single top-level value gives one element, as CelesTrak's GP API answers a
 * CATNR query with an object). Elements come out as soon as they are scanned;
 * a later `malformed` step means the document as a whole is not JSON, and
 * the caller must drop what it collected.
 */
export function* jsonArrayElements(text: string, options: JsonElementOptions = {}): Generator<JsonElementStep> {
  const maxChars = options.maxElementChars ?? 1 << 20;
  const every = options.progressEvery ?? 1 << 16;
  let pos = 0;
  while (pos < text.length && isJsonSpace(text.charCodeAt(pos))) pos++;
  if (text.charCodeAt(pos) !== OPEN_BRACKET) {
    // One value, not an array: an OMM record or garbage. Bounded like an element.
    if (text.length - pos > maxChars) {
      yield { kind: 'malformed', reason: `not JSON: a top-level value of ${text.length - pos} characters that is not an array` };
      return;
    }
    try {
      yield { kind: 'element', index: 1, value: JSON.parse(text) };
    } catch (err) {
      yield { kind: 'malformed', reason: parseError(err) };
    }
    return;
  }
  pos++;
  let start = pos;
  let depth = 0;
  let index = 0;
  let lastProgress = pos;
  const end = (): JsonElementStep | null => {
    // An element runs from `start` to `pos` (exclusive); JSON.parse checks it.
    index++;
    const chars = pos - start;
    if (chars > maxChars) return { kind: 'oversized', index, chars };
    try {
      return { kind: 'element', index, value: JSON.parse(text.slice(start, pos)) };
    } catch (err) {
      return { kind: 'malformed', reason: `${parseError(err)} (array element ${index})` };
    }
  };
  while (pos < text.length) {
    if (pos - lastProgress >= every) {
      lastProgress = pos;
      yield { kind: 'progress' };
    }
    const c = text.charCodeAt(pos);
    if (c === QUOTE) {
      // Jump to the closing quote: one not preceded by an odd run of backslashes.
      let q = pos + 1;
      for (;;) {
        q = text.indexOf('"', q);
        if (q === -1) {
          yield { kind: 'malformed', reason: 'not JSON: unterminated string' };
          return;
        }
        let b = q - 1;
        while (text.charCodeAt(b) === BACKSLASH) b--;
        if ((q - 1 - b) % 2 === 0) break;
        q++;
      }
      pos = q + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || (c === CLOSE_BRACKET && depth > 0)) depth--;
    else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
      const closing = c === CLOSE_BRACKET;
      // `[]` and `[ ]`: no element at all.
      const empty = closing && index === 0 && text.slice(start, pos).trim() === '';
      if (!empty) {
        const step = end();
        if (step!.kind === 'malformed') {
          yield step!;
          return;
        }
        yield step!;
      }
      pos++;
      start = pos;
      if (closing) {
        while (pos < text.length && isJsonSpace(text.charCodeAt(pos))) pos++;
        if (pos < text.length) yield { kind: 'malformed', reason: `not JSON: unexpected text after the array at position ${pos}` };
        return;
      }
      continue;
    }
    if (depth < 0) {
      yield { kind: 'malformed', reason: `not JSON: unbalanced brackets at position ${pos}` };
      return;
    }
    pos++;
  }
  yield { kind: 'malformed', reason: 'not JSON: unterminated array' };
}
