/**
 * The imagery ingest against a local S3-compatible server serving generated
 * ABI and AHI files: new scenes become items exactly once (also after the
 * ingest actor is replaced), Himawari's 10 segments become one item, paging
 * with continuation tokens is followed, and malformed keys, corrupt and
 * truncated files are counted and skipped with a reason. The gateway here is
 * a small stand-in with the transaction endpoint's contract (202 + task id,
 * an idempotent re-POST answered 202 again, Bearer key required).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile, readFile, truncate } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedBus, quietLogger, until } from '../helpers/cluster-fixtures.js';
import { openTestPglite } from '../helpers/storage-backends.js';
import { migrate } from '../../actors/storage/migrate.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { ImageryIngest } from '../../actors/ingest/imagery-actor.js';
import { listIngested } from '../../actors/ingest/imagery-registry.js';
import { loadConfig } from '../../config/load.js';
import { startS3Server } from '../helpers/s3-server.js';
import { abiFileName, writeAbiFile } from '../helpers/abi-file.js';
import { himawariFileName, himawariSegmentFile } from '../helpers/himawari-file.js';
import { prefixFor } from '../../actors/ingest/imagery-keys.js';
import { imageryMetrics } from '../../actors/ingest/imagery-metrics.js';
import { Registry } from 'prom-client';

/** A migrated PGlite database and an embedded bus, both disposed by the test's cleanups. */
async function migratedPgliteAndBus(cleanups: Array<() => Promise<unknown>>) {
  const db = await openTestPglite();
  cleanups.push(() => db.dispose());
  await migrate(db.db);
  const bus = await embeddedBus();
  cleanups.push(() => bus.cleanup());
  return { db, bus };
}

/** The local S3 server by a host name: the SSRF guard always refuses literal IPs. */
function loopbackS3Endpoint(url: string): string {
  return url.replace('127.0.0.1', 'localhost');
}

/** Config that lets the SSRF guard reach the local S3 server (listed as a private host). */
function privateS3Overrides(endpoint: string) {
  const hostPort = new URL(endpoint).host;
  return { 'imagery.s3Endpoint': endpoint, 'assets.hosts': [hostPort], 'assets.privateHosts': [hostPort] };
}

interface Posted {
  id: string;
  auth: string | undefined;
  item: Record<string, unknown>;
}

async function standInGateway(key: string): Promise<{ url: string; posts: Posted[]; close(): Promise<void> }> {
  const posts: Posted[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/collections/imagery/items') {
        res.writeHead(404).end();
        return;
      }
      if (req.headers.authorization !== `Bearer ${key}`) {
        res.writeHead(401, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ title: 'Unauthorized' }));
        return;
      }
      const item = JSON.parse(body) as Record<string, unknown>;
      const id = String(item.id);
      posts.push({ id, auth: req.headers.authorization, item });
      res.writeHead(202, { 'content-type': 'application/json', location: `/tasks/stac:imagery:${id}` }).end(JSON.stringify({ taskId: `stac:imagery:${id}`, status: 'queued' }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

describe('imagery ingest over a local S3 server', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('scenes registered exactly once across a restart; Himawari grouped; paging; bad input counted', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sw-s3-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const now = new Date('2026-11-25T17:25:00Z');
    // GOES-East: full disk + CONUS band 13 in this hour, one in the previous hour, a band-2 file (filtered out),
    // a malformed key, a corrupt file and a truncated one with valid names.
    const put = async (bucket: string, key: string, bytes?: Uint8Array): Promise<string> => {
      const p = join(root, bucket, ...key.split('/'));
      await mkdir(join(p, '..'), { recursive: true });
      if (bytes) await writeFile(p, bytes);
      return p;
    };
    const goesScenes: string[] = [];
    for (const [sector, t] of [['F', '2026-11-25T17:00:20.5Z'], ['F', '2026-11-25T17:10:20.5Z'], ['C', '2026-11-25T17:01:17.1Z'], ['F', '2026-11-25T16:50:20.5Z']] as const) {
      const start = new Date(t);
      const name = abiFileName({ sector, start });
      const product = `ABI-L1b-Rad${sector}`;
      // The first is large enough (1000², ~240 kB) that its header takes several head+tail range reads.
      await writeAbiFile(await put('noaa-goes19', prefixFor('abi', product, start) + name), { sector, start, size: goesScenes.length === 0 ? 1000 : 32 });
      goesScenes.push(name.replace(/_c\d{14}\.nc$/, ''));
    }
    const fdPrefix = prefixFor('abi', 'ABI-L1b-RadF', now);
    await put('noaa-goes19', fdPrefix + abiFileName({ sector: 'F', start: new Date('2026-11-25T17:20:20.5Z'), band: 2 }), new Uint8Array([1, 2, 3]));
    await put('noaa-goes19', fdPrefix + 'OR_ABI-L1b-RadF-M6C13_G19_garbage.nc', new Uint8Array([1]));
    const corruptName = abiFileName({ sector: 'F', start: new Date('2026-11-25T17:20:20.5Z') });
    await put('noaa-goes19', fdPrefix + corruptName, new Uint8Array(4096).fill(7));
    const truncName = abiFileName({ sector: 'C', start: new Date('2026-11-25T17:06:17.1Z') });
    const truncPath = await put('noaa-goes19', prefixFor('abi', 'ABI-L1b-RadC', now) + truncName);
    await writeAbiFile(truncPath, { sector: 'C', start: new Date('2026-11-25T17:06:17.1Z') });
    await truncate(truncPath, 2000);

    // Himawari-9: all 10 segments of 17:10 band 13 (one item), 3 of 17:20 (waits), segment files of band 3 (filtered).
    const h1710 = new Date('2026-11-25T17:10:00Z');
    for (let s = 1; s <= 10; s++) {
      await put('noaa-himawari9', prefixFor('ahi', 'AHI-L1b-FLDK', h1710) + himawariFileName({ time: h1710, segment: s }), himawariSegmentFile({ time: h1710, segment: s }));
    }
    const h1720 = new Date('2026-11-25T17:20:00Z');
    for (let s = 1; s <= 3; s++) {
      await put('noaa-himawari9', prefixFor('ahi', 'AHI-L1b-FLDK', h1720) + himawariFileName({ time: h1720, segment: s }), himawariSegmentFile({ time: h1720, segment: s }));
    }
    await put('noaa-himawari9', prefixFor('ahi', 'AHI-L1b-FLDK', h1710) + himawariFileName({ time: h1710, segment: 1, band: 3 }), new Uint8Array([0]));

    const s3 = await startS3Server(root, { pageSize: 2 });
    cleanups.push(() => s3.close());
    const gw = await standInGateway('k3y');
    cleanups.push(() => gw.close());
    const { db, bus } = await migratedPgliteAndBus(cleanups);
    // Through the SSRF guard: a host name (literal IPs are always refused), listed as a private host.
    const endpoint = loopbackS3Endpoint(s3.url);
    const cfg = loadConfig({
      env: {},
      overrides: {
        namespace: bus.names.namespace,
        ...privateS3Overrides(endpoint),
        'imagery.sources': ['goes-east', 'himawari-9'],
        'imagery.intervalMs': 1000,
        'imagery.gatewayUrl': gw.url,
        'imagery.segmentTimeoutMs': 3_600_000,
        'imagery.headerBytes': 4096,
      },
    });
    const make = async (hostId: string): Promise<ImageryIngest> => {
      const transport = await bus.connect();
      const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: hostId, leaseMs: 1500, safetyMs: 300, logger: quietLogger(hostId) });
      const ingest = new ImageryIngest({ config: cfg, db: db.db, leases, logger: quietLogger(hostId), hostId, apiKey: async () => 'k3y', now: () => now });
      ingest.start();
      cleanups.push(() => ingest.stop());
      return ingest;
    };

    const a = await make('imagery-a');
    await until('first poll done', 30_000, () => a.stats.polls >= 2);
    const expected = [...goesScenes, 'HS_H09_20261125_1710_B13_FLDK_R20'].sort();
    assert.deepEqual([...new Set(gw.posts.map((p) => p.id))].sort(), expected, 'every complete scene registered');
    assert.equal(gw.posts.length, expected.length, 'each exactly once');
    assert.equal(a.stats.registered, expected.length);
    assert.ok(s3.stats.list > 8, `listings were paged (${s3.stats.list} list requests)`);
    assert.ok(s3.stats.ranged > 0, 'headers were read with Range requests');
    assert.equal(a.stats.reasons.malformed_key, 1, 'the malformed key counted once, though listed every poll');
    assert.ok((a.stats.reasons.bad_file ?? 0) >= 2, `corrupt and truncated files counted: ${JSON.stringify(a.lastSkips)}`);
    const rows = await listIngested(db.db, 100);
    const corruptRow = rows.find((r) => r.itemId === corruptName.replace(/_c\d{14}\.nc$/, ''));
    assert.equal(corruptRow?.outcome, 'rejected');
    assert.match(corruptRow!.reason, /HDF5/);
    const truncRow = rows.find((r) => r.itemId === truncName.replace(/_c\d{14}\.nc$/, ''));
    assert.equal(truncRow?.outcome, 'rejected');

    const him = gw.posts.find((p) => p.id.startsWith('HS_H09'))!;
    const assets = him.item.assets as Record<string, { href: string }>;
    assert.equal(Object.keys(assets).length, 10, 'one item with 10 segment assets');
    assert.ok(assets['segment-01']!.href.startsWith(`${endpoint}/noaa-himawari9/AHI-L1b-FLDK/2026/11/25/1710/`));
    assert.deepEqual((him.item.properties as Record<string, unknown>)['starweather:segments_missing'], []);
    // Segment s is observed from 20 + 3·(s-1) s to that + 33 s after the slot (himawari-file.ts): the scene spans segment 1's start to segment 10's end.
    assert.equal((him.item.properties as Record<string, unknown>).start_datetime, '2026-11-25T17:10:20.000Z');
    assert.equal((him.item.properties as Record<string, unknown>).end_datetime, '2026-11-25T17:11:20.000Z');
    const fd = gw.posts.find((p) => p.id === goesScenes[0])!;
    assert.equal((fd.item.properties as Record<string, unknown>).platform, 'goes-19');
    assert.equal((fd.item.assets as Record<string, { href: string }>).data!.href.startsWith(`${endpoint}/noaa-goes19/ABI-L1b-RadF/2026/329/17/`), true);

    // Replace the actor: the new leader polls and registers nothing again.
    await a.stop();
    const postsBefore = gw.posts.length;
    const b = await make('imagery-b');
    await until('the new actor polled twice', 30_000, () => b.stats.polls >= 2);
    assert.equal(gw.posts.length, postsBefore, 'no re-registration after the restart');
    assert.equal(b.stats.registered, 0);

    // The missing Himawari segments arrive: the 17:20 scene is registered once, as one item.
    for (let s = 4; s <= 10; s++) {
      await put('noaa-himawari9', prefixFor('ahi', 'AHI-L1b-FLDK', h1720) + himawariFileName({ time: h1720, segment: s }), himawariSegmentFile({ time: h1720, segment: s }));
    }
    await until('17:20 registered', 30_000, () => gw.posts.some((p) => p.id === 'HS_H09_20261125_1720_B13_FLDK_R20'));
    const polls = b.stats.polls;
    await until('two more polls', 30_000, () => b.stats.polls >= polls + 2);
    assert.equal(gw.posts.filter((p) => p.id === 'HS_H09_20261125_1720_B13_FLDK_R20').length, 1);
    assert.equal(Object.keys(gw.posts.find((p) => p.id === 'HS_H09_20261125_1720_B13_FLDK_R20')!.item.assets as object).length, 10);
  });

  test('Himawari after the segment timeout: registered with the segments present; a gateway 400 is recorded, not retried', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sw-s3t-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const now = new Date('2026-11-25T17:25:00Z');
    const h = new Date('2026-11-25T17:00:00Z');
    for (const s of [1, 2, 5]) {
      const p = join(root, 'noaa-himawari9', ...(prefixFor('ahi', 'AHI-L1b-FLDK', h) + himawariFileName({ time: h, segment: s })).split('/'));
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, himawariSegmentFile({ time: h, segment: s }));
    }
    const start = new Date('2026-11-25T17:01:17.1Z');
    const conus = join(root, 'noaa-goes19', ...(prefixFor('abi', 'ABI-L1b-RadC', start) + abiFileName({ sector: 'C', start })).split('/'));
    await mkdir(join(conus, '..'), { recursive: true });
    await writeAbiFile(conus, { sector: 'C', start });
    const s3 = await startS3Server(root);
    cleanups.push(() => s3.close());
    // A gateway that refuses CONUS items with a 400 problem, accepts the rest.
    const posts: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const item = JSON.parse(body) as { id: string };
        posts.push(item.id);
        if (item.id.includes('RadC')) {
          res.writeHead(400, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ title: 'Bad Request', detail: 'properties.datetime: must match format' }));
        } else res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ taskId: `stac:imagery:${item.id}`, status: 'queued' }));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise<void>((ok) => server.close(() => ok())));
    const { db, bus } = await migratedPgliteAndBus(cleanups);
    const endpoint = loopbackS3Endpoint(s3.url);
    const cfg = loadConfig({
      env: {},
      overrides: {
        namespace: bus.names.namespace,
        ...privateS3Overrides(endpoint),
        'imagery.sources': ['goes-east', 'himawari-9'],
        'imagery.gatewayUrl': `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        'imagery.segmentTimeoutMs': 0,
      },
    });
    const transport = await bus.connect();
    const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: 'tmo', leaseMs: 1500, safetyMs: 300, logger: quietLogger('tmo') });
    const registry = new Registry();
    const ingest = new ImageryIngest({ config: cfg, db: db.db, leases, logger: quietLogger('tmo'), hostId: 'tmo', apiKey: async () => 'k', now: () => now, metrics: imageryMetrics(registry) });
    await ingest.poll();
    await ingest.poll();
    const text = await registry.metrics();
    assert.match(text, /sw_imagery_scenes_total\{source="himawari-9",outcome="registered"\} 1/);
    assert.match(text, /sw_imagery_scenes_total\{source="goes-east",outcome="rejected"\} 1/);
    assert.match(text, /sw_imagery_polls_total 2/);
    assert.equal(posts.length, 2, `one POST each: ${posts.join(', ')}`);
    assert.equal(ingest.stats.registered, 1);
    assert.equal(ingest.stats.rejected, 1);
    assert.equal(ingest.stats.reasons.gateway_rejected, 1);
    const rows = await listIngested(db.db);
    const him = rows.find((r) => r.itemId === 'HS_H09_20261125_1700_B13_FLDK_R20')!;
    assert.equal(him.outcome, 'registered');
    assert.equal(him.objects.length, 3);
    const rej = rows.find((r) => r.itemId.includes('RadC'))!;
    assert.equal(rej.outcome, 'rejected');
    assert.equal(rej.httpStatus, 400);
    assert.match(rej.reason, /properties\.datetime/);
  });

  test('the SSRF guard refuses an S3 endpoint that resolves to loopback unless it is a configured private host', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sw-s3-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const s3 = await startS3Server(root);
    cleanups.push(() => s3.close());
    const { db, bus } = await migratedPgliteAndBus(cleanups);
    const endpoint = loopbackS3Endpoint(s3.url);
    const cfg = loadConfig({ env: {}, overrides: { namespace: bus.names.namespace, 'imagery.s3Endpoint': endpoint, 'imagery.sources': ['goes-east'], 'imagery.gatewayUrl': 'http://localhost:9' } });
    const transport = await bus.connect();
    const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: 'ssrf', leaseMs: 1500, safetyMs: 300, logger: quietLogger('ssrf') });
    const ingest = new ImageryIngest({ config: cfg, db: db.db, leases, logger: quietLogger('ssrf'), hostId: 'ssrf' });
    await ingest.poll();
    assert.equal(s3.stats.list, 0, 'no request reached the server');
    assert.ok((ingest.stats.reasons.list_error ?? 0) >= 1);
    assert.match(ingest.lastSkips.at(-1)!.reason, /SSRF guard \(private_address\)/);
  });

  test('local directory source: dropped files registered with file:// hrefs; a gateway 401 is retried, not lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sw-imgdir-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const start = new Date('2026-11-25T17:00:20.5Z');
    await writeAbiFile(join(dir, abiFileName({ sector: 'C', start })), { sector: 'C', start });
    await writeFile(join(dir, 'notes.txt'), 'not imagery');
    const gw = await standInGateway('right');
    cleanups.push(() => gw.close());
    const { db, bus } = await migratedPgliteAndBus(cleanups);
    const cfg = loadConfig({ env: {}, overrides: { namespace: bus.names.namespace, 'imagery.sources': [], 'imagery.dir': dir, 'assets.fileRoot': dir, 'imagery.intervalMs': 1000, 'imagery.gatewayUrl': gw.url } });
    let key = 'wrong';
    const transport = await bus.connect();
    const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: 'dir-host', leaseMs: 1500, safetyMs: 300, logger: quietLogger('dir') });
    const ingest = new ImageryIngest({ config: cfg, db: db.db, leases, logger: quietLogger('dir'), hostId: 'dir-host', apiKey: async () => key });
    ingest.start();
    cleanups.push(() => ingest.stop());
    await until('a poll with the wrong key', 20_000, () => ingest.stats.retries >= 1);
    assert.equal(gw.posts.length, 0);
    key = 'right';
    await until('registered once the key is right', 20_000, () => gw.posts.length === 1);
    const item = gw.posts[0]!.item;
    const href = (item.assets as Record<string, { href: string }>).data!.href;
    assert.ok(href.startsWith('file://') && href.endsWith('.nc'), href);
    assert.equal(await readFile(new URL(href)).then((b) => b.byteLength > 0), true);
    assert.ok((ingest.stats.reasons.malformed_key ?? 0) >= 1, 'notes.txt counted as not imagery');
    const polls = ingest.stats.polls;
    await until('two more polls', 20_000, () => ingest.stats.polls >= polls + 2);
    assert.equal(gw.posts.length, 1);
    await ingest.stop();

    // A file still being copied in is not taken until a poll finds it unchanged (polls driven by hand here).
    const start2 = new Date('2026-11-25T17:06:17.1Z');
    const name2 = abiFileName({ sector: 'C', start: start2 });
    const staged = join(dir, '..', `${name2}.staged`);
    await writeAbiFile(staged, { sector: 'C', start: start2 });
    cleanups.push(() => rm(staged, { force: true }));
    const bytes = await readFile(staged);
    const manual = new ImageryIngest({ config: cfg, db: db.db, leases, logger: quietLogger('dir2'), hostId: 'dir2', apiKey: async () => key });
    await manual.poll(); // sees the first file (already registered) for the first time
    await writeFile(join(dir, name2), bytes.subarray(0, 1500));
    await manual.poll();
    await writeFile(join(dir, name2), bytes);
    await manual.poll();
    assert.equal(gw.posts.length, 1, 'not taken while it changed');
    assert.equal(manual.stats.rejected, 0, 'the partial file was never read as truncated');
    await manual.poll();
    assert.equal(gw.posts.length, 2, 'taken once settled');
    assert.equal(gw.posts[1]!.id, name2.replace(/_c\d{14}\.nc$/, ''));
  });
});
