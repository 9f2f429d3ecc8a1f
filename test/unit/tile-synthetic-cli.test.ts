/**
 * The demo-scene writer (synthetic/cli.ts): its files carry the official
 * names the imagery ingest parses, the ingest's header readers read them
 * from a prefix as they would a downloaded object, and readScene reads the
 * whole scene back; bad arguments are refused with the reason.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseSynthArgs, synthesize } from '../../actors/tile/synthetic/cli.js';
import { parseGoesKey, parseHimawariKey } from '../../actors/ingest/imagery-keys.js';
import { HeaderIncompleteError, readAbiHeader, readAhiHeader } from '../../actors/ingest/imagery-header.js';
import { readScene } from '../../actors/tile/formats/index.js';

const dir = await mkdtemp(join(tmpdir(), 'sw-synth-cli-'));
after(() => rm(dir, { recursive: true, force: true }));

async function prefix(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

test('writes ABI and AHI scenes the ingest recognises and the readers read back', async () => {
  const o = parseSynthArgs(['--out', dir, '--size', '120', '--seed', '9', '--time', '2026-09-01T06:00:00Z', '--cyclone', '15,140']);
  assert.ok(o);
  const progress: Array<[string, number]> = [];
  const written = await synthesize(o, undefined, (text, fraction) => progress.push([text, fraction]));
  assert.equal(written.length, 2);
  // Told before each scene is generated (the slow, synchronous part), with the share already written.
  assert.deepEqual(progress, [
    ['scene 1 of 2: ABI 120×120 at 2026-09-01T06:00:00.000Z', 0],
    ['scene 2 of 2: AHI 120×120 at 2026-09-01T06:00:00.000Z', 0.5],
  ]);
  assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.')), [], 'no temporary files left');

  const abi = written.find((w) => w.instrument === 'abi')!;
  assert.equal(abi.files.length, 1);
  const key = parseGoesKey(basename(abi.files[0]!));
  assert.ok(key.ok && key.value.kind === 'goes', JSON.stringify(key));
  assert.equal(key.value.band, 13);
  assert.equal(key.value.start.toISOString(), '2026-09-01T06:00:00.000Z');
  // The ingest reads headers from the object's first bytes (metadata precedes the pixel data, as in netCDF-C files).
  const size = (await stat(abi.files[0]!)).size;
  let header = null;
  for (let n = 16384; !header; n *= 2) {
    try {
      header = await readAbiHeader(await prefix(abi.files[0]!, n), size);
    } catch (err) {
      if (!(err instanceof HeaderIncompleteError) || n >= size) throw err;
    }
  }
  assert.equal(header.bandId, 13);
  assert.deepEqual(header.shape, [120, 120]);
  assert.equal(header.platformId, 'G19');

  const ahi = written.find((w) => w.instrument === 'ahi')!;
  assert.equal(ahi.files.length, 10);
  for (const [i, f] of ahi.files.entries()) {
    const k = parseHimawariKey(basename(f));
    assert.ok(k.ok && k.value.kind === 'himawari', JSON.stringify(k));
    assert.equal(k.value.segment, i + 1);
    assert.equal(k.value.time.toISOString(), '2026-09-01T06:00:00.000Z');
  }
  const h = readAhiHeader(await readFile(ahi.files[3]!), true);
  assert.equal(h.segment, 4);
  assert.equal(h.firstLine, 37);
  assert.equal(h.columns, 120);

  const band = await readScene(await Promise.all(ahi.files.map(async (f) => ({ name: basename(f), bytes: new Uint8Array(await readFile(f)) }))));
  assert.equal(band.width, 120);
  assert.equal(band.height, 120);
  const abiBand = await readScene([{ name: basename(abi.files[0]!), bytes: new Uint8Array(await readFile(abi.files[0]!)) }]);
  assert.equal(abiBand.platform, 'goes-19');
});

test('bad arguments are refused with the reason', () => {
  assert.throws(() => parseSynthArgs([]), /--out <dir> is required/);
  assert.throws(() => parseSynthArgs(['--out', dir, '--instrument', 'seviri']), /--instrument must be abi, ahi or both/);
  assert.throws(() => parseSynthArgs(['--out', dir, '--size', '55']), /not a multiple of 10/);
  assert.throws(() => parseSynthArgs(['--out', dir, '--cyclone', '80,0']), /within ±60°/);
  assert.throws(() => parseSynthArgs(['--out', dir, '--time', 'yesterday']), /--time is not a date/);
  assert.equal(parseSynthArgs(['--help']), null);
  assert.equal(parseSynthArgs(['--out', dir, '--visible'])?.visible, true);
  const o = parseSynthArgs(['--out', dir, '--instrument', 'abi', '--size', '55'], new Date('2026-09-01T06:17:30Z'));
  assert.equal(o?.time.toISOString(), '2026-09-01T06:10:00.000Z');
});
