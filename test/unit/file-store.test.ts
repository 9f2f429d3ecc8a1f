/**
 * The tile file store: traversal attempts are rejected and create nothing
 * outside the root; writes are atomic; the size cap evicts least recently
 * used files; ETags follow content; the index survives a reopen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PathTraversalError } from '../../actors/storage/errors.js';
import { etagOf, FileStore, keyPath } from '../../actors/storage/file-store.js';

/** Every file and directory under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(base, p));
    if (e.isDirectory()) out.push(...walk(p, base));
  }
  return out.sort();
}

const TRAVERSAL_CORPUS: readonly string[] = [
  '../x',
  '..',
  '.',
  'a/../../x',
  'a/./b',
  'a/../b',
  '../../../../etc/passwd',
  '/etc/passwd',
  '//etc/passwd',
  '%2e%2e%2fx',
  '%2e%2e/x',
  '..%2fx',
  '..%5cx',
  '%252e%252e%252fx',
  'a/%2e%2e/%2e%2e/x',
  '..\\x',
  'a\\..\\..\\x',
  'C:\\Windows\\win.ini',
  'tiles/\0/x',
  'x\0.png',
  '\0',
  '',
  'a//b',
  'a/',
  '/a',
  '.hidden',
  'a/.tmp/x',
  '.tmp/evil',
  'a/b/..',
  '….',
  'tile\n.png',
  'a/b c.png',
  'x'.repeat(5000),
  Array.from({ length: 40 }, () => 'd').join('/'),
  'ok/' + 'y'.repeat(200),
];

describe('file store', () => {
  let parent: string;
  let root: string;
  before(() => {
    parent = mkdtempSync(join(tmpdir(), 'sw-files-'));
    root = join(parent, 'root');
  });
  after(() => rmSync(parent, { recursive: true, force: true }));

  test('every traversal attempt is rejected and nothing is created outside (or inside) the root', async () => {
    const store = await FileStore.open({ root, maxBytes: 1 << 20 });
    const outsideBefore = walk(parent);
    for (const key of TRAVERSAL_CORPUS) {
      await assert.rejects(store.put(key, 'evil'), PathTraversalError, `put ${JSON.stringify(key.slice(0, 60))}`);
      await assert.rejects(store.get(key), PathTraversalError, `get ${JSON.stringify(key.slice(0, 60))}`);
      await assert.rejects(store.delete(key), PathTraversalError);
      assert.throws(() => keyPath(store.root, key), PathTraversalError);
    }
    await assert.rejects(store.put(42 as unknown as string, 'x'), PathTraversalError);
    assert.deepEqual(walk(parent), outsideBefore, 'no file or directory appeared anywhere');
    assert.deepEqual(walk(root), ['.tmp'], 'only the temp directory exists in the root');
    assert.equal(store.stats().rejectedKeys, TRAVERSAL_CORPUS.length * 3 + 1);
  });

  test('a directory swapped for a symlink out of the root is refused', async () => {
    const store = await FileStore.open({ root, maxBytes: 1 << 20 });
    const outside = join(parent, 'outside');
    mkdirSync(outside, { recursive: true });
    symlinkSync(outside, join(store.root, 'linked'));
    await assert.rejects(store.put('linked/x.png', 'evil'), PathTraversalError);
    assert.deepEqual(readdirSync(outside), []);
    rmSync(join(store.root, 'linked'));
  });

  test('valid keys round-trip with a content ETag; overwrite changes the ETag', async () => {
    const store = await FileStore.open({ root, maxBytes: 1 << 20 });
    const a = await store.put('tiles/goes-18/3/2/1.png', Buffer.from([1, 2, 3]));
    assert.equal(a.etag, etagOf(Buffer.from([1, 2, 3])));
    assert.match(a.etag, /^"[A-Za-z0-9_-]{27}"$/);
    const got = await store.get('tiles/goes-18/3/2/1.png');
    assert.deepEqual([...got!.data], [1, 2, 3]);
    assert.equal(got!.etag, a.etag);
    assert.deepEqual(await store.head('tiles/goes-18/3/2/1.png'), { etag: a.etag, size: 3 });
    const b = await store.put('tiles/goes-18/3/2/1.png', 'new');
    assert.notEqual(b.etag, a.etag);
    assert.equal((await store.get('tiles/goes-18/3/2/1.png'))!.data.toString(), 'new');
    assert.equal(await store.get('tiles/none.png'), null);
    assert.equal(await store.head('tiles/none.png'), null);
    assert.equal(await store.delete('tiles/goes-18/3/2/1.png'), true);
    assert.equal(await store.delete('tiles/goes-18/3/2/1.png'), false);
    assert.ok(existsSync(join(root, 'tiles', 'goes-18', '3', '2')), 'keys are plain paths under the root');
  });

  test('writes are atomic: concurrent readers see a whole old or whole new file, no temp file is left', async () => {
    const store = await FileStore.open({ root, maxBytes: 64 << 20 });
    const A = Buffer.alloc(2 << 20, 0x41);
    const B = Buffer.alloc(2 << 20, 0x42);
    await store.put('atomic.bin', A);
    const seen = new Set<string>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await store.put('atomic.bin', i % 2 ? A : B);
      writing = false;
    })();
    while (writing) {
      const f = await store.get('atomic.bin');
      assert.equal(f!.data.length, A.length, 'never a partial file');
      const first = f!.data[0]!;
      assert.ok(f!.data.every((x) => x === first), 'never a mix of two writes');
      seen.add(String.fromCharCode(first));
    }
    await writer;
    assert.ok(seen.size >= 1);
    assert.deepEqual(readdirSync(join(store.root, '.tmp')), []);
  });

  test('the size cap evicts the least recently used files', async () => {
    const capRoot = join(parent, 'capped');
    const store = await FileStore.open({ root: capRoot, maxBytes: 3000 });
    const kb = Buffer.alloc(1000, 1);
    await store.put('a', kb);
    await store.put('b', kb);
    await store.put('c', kb);
    assert.equal(store.stats().bytes, 3000);
    await store.get('a'); // a is now the most recently used; b is the oldest
    await store.put('d', kb);
    assert.equal(await store.get('b'), null, 'b evicted');
    assert.ok(await store.get('a'));
    assert.ok(await store.get('c'));
    assert.ok(await store.get('d'));
    assert.equal(store.stats().evictions, 1);
    assert.ok(store.stats().bytes <= 3000);
    await assert.rejects(store.put('huge', Buffer.alloc(4000)), /exceeds the cache cap/);

    // A reopened store rebuilds its index from disk and keeps the cap.
    const again = await FileStore.open({ root: capRoot, maxBytes: 2000 });
    assert.equal(again.stats().files, 2, 'shrinking the cap evicts on open');
    assert.ok(again.stats().bytes <= 2000);
    assert.equal(walk(capRoot).filter((p) => !p.startsWith('.tmp') && statSync(join(capRoot, p)).isFile()).length, 2);
  });

  test('leftover temp files from a crash are removed at open', async () => {
    const r = join(parent, 'crashy');
    mkdirSync(join(r, '.tmp'), { recursive: true });
    writeFileSync(join(r, '.tmp', 'half.tmp'), 'partial');
    const store = await FileStore.open({ root: r, maxBytes: 1 << 20 });
    assert.deepEqual(readdirSync(join(store.root, '.tmp')), []);
    assert.equal(store.stats().files, 0);
  });
});
