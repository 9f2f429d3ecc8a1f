/** The S3 client against the local S3-compatible server: ListObjectsV2 paging, delimiter, Range → 206, XML errors. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, S3Error, parseListXml } from '../../actors/ingest/imagery-s3.js';
import { startS3Server } from '../helpers/s3-server.js';

const root = await mkdtemp(join(tmpdir(), 'sw-s3u-'));
after(() => rm(root, { recursive: true, force: true }));
await mkdir(join(root, 'bkt', 'a', 'b'), { recursive: true });
for (let i = 0; i < 7; i++) await writeFile(join(root, 'bkt', 'a', 'b', `f${i} & <x>.bin`), Buffer.alloc(100 + i, i));
await writeFile(join(root, 'bkt', 'a', 'top.bin'), 'hello world');
const server = await startS3Server(root, { pageSize: 3 });
after(() => server.close());

test('ListObjectsV2 follows continuation tokens; keys with XML metacharacters round-trip', async () => {
  const c = new S3Client({ endpoint: server.url });
  const before = server.stats.list;
  const objs = await c.list('bkt', 'a/b/');
  assert.equal(objs.length, 7);
  assert.equal(server.stats.list - before, 3, 'three pages of at most 3');
  assert.ok(objs.some((o) => o.key === 'a/b/f3 & <x>.bin' && o.size === 103));
  assert.equal(new Set(objs.map((o) => o.key)).size, 7, 'no duplicates across pages');
  const page = await c.listPage('bkt', 'a/', null);
  assert.equal(page.objects.length, 3);
  assert.ok(page.nextToken);
});

test('a ranged GET answers 206 with the prefix; a missing key is an S3Error with its status', async () => {
  const c = new S3Client({ endpoint: server.url });
  const ranged = server.stats.ranged;
  const body = await c.readPrefix('bkt', 'a/top.bin', 5);
  assert.equal(new TextDecoder().decode(body), 'hello');
  assert.equal(server.stats.ranged, ranged + 1);
  await assert.rejects(c.readPrefix('bkt', 'a/nope.bin', 5), (e: unknown) => e instanceof S3Error && e.status === 404);
  const res = await fetch(`${server.url}/bkt/a/top.bin`, { method: 'HEAD' });
  assert.equal(res.headers.get('content-length'), '11');
  const delim = await fetch(`${server.url}/bkt/?list-type=2&prefix=a/&delimiter=/`).then((r) => r.text());
  assert.match(delim, /<CommonPrefixes><Prefix>a\/b\/<\/Prefix><\/CommonPrefixes>/);
  assert.match(delim, /<Key>a\/top.bin<\/Key>/);
});

test('listing XML: S3 error documents and a truncated listing without a token are refused', () => {
  assert.throws(() => parseListXml('<Error><Code>AccessDenied</Code><Message>no</Message></Error>'), /AccessDenied/);
  assert.throws(() => parseListXml('<html>hi</html>'), /not a ListBucketResult/);
  assert.throws(() => parseListXml('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>'), /without NextContinuationToken/);
  const p = parseListXml('<ListBucketResult><Contents><Key>k&amp;1</Key><Size>5</Size></Contents><Contents><Key>bad</Key><Size>-1</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>');
  assert.deepEqual(p.objects.map((o) => o.key), ['k&1']);
});
