import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeTrackerFrame, decodeTrackerFrame, decodeTrackerFrameHeader, trackerFrameSize, STATE_STRIDE, ProtocolError } from '../../protocol/index.js';

function columns(n: number) {
  const ids = new Uint32Array(n);
  const flags = new Uint32Array(n);
  const values = new Float64Array(n * STATE_STRIDE);
  for (let i = 0; i < n; i++) {
    ids[i] = i === 0 ? 999_999_999 : i === 1 ? 123_456 : 25544 + i;
    flags[i] = i % 7;
    for (let j = 0; j < STATE_STRIDE; j++) values[i * STATE_STRIDE + j] = (i + 1) * 1000.123 + j * 0.25 - 5000;
  }
  return { ids, flags, values, count: n };
}

test('frame round-trips ids (9 digits), flags and float32 values', () => {
  const cols = columns(50);
  const bytes = encodeTrackerFrame(17, 1_764_000_000_123, cols);
  assert.equal(bytes.byteLength, trackerFrameSize(50));
  const f = decodeTrackerFrame(bytes);
  assert.equal(f.shard, 17);
  assert.equal(f.tickMs, 1_764_000_000_123);
  assert.equal(f.count, 50);
  assert.equal(f.columns.ids[0], 999_999_999);
  assert.equal(f.columns.ids[1], 123_456);
  for (let i = 0; i < 50; i++) {
    assert.equal(f.columns.flags[i], i % 7);
    for (let j = 0; j < STATE_STRIDE; j++) {
      const want = cols.values[i * STATE_STRIDE + j]!;
      assert.ok(Math.abs(f.columns.values[i * STATE_STRIDE + j]! - want) <= Math.abs(want) * 2 ** -23, `obj ${i} field ${j}`);
    }
  }
});

test('a subset by index, written into a reused buffer', () => {
  const cols = columns(10);
  const scratch = new Uint8Array(trackerFrameSize(10));
  const bytes = encodeTrackerFrame(3, 1, cols, [9, 2, 5], 3, scratch);
  assert.equal(bytes.buffer, scratch.buffer);
  const f = decodeTrackerFrame(bytes);
  assert.deepEqual([...f.columns.ids], [cols.ids[9], cols.ids[2], cols.ids[5]]);
});

test('malformed frames are rejected with a reason', () => {
  const good = encodeTrackerFrame(1, 1, columns(2));
  const cases: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, 10), /shorter/],
    [good.subarray(0, good.byteLength - 1), /need/],
    [Uint8Array.from([...Uint8Array.from(good.subarray(0, 4)).reverse(), ...good.subarray(4)]), /magic/],
  ];
  const badVersion = Uint8Array.from(good);
  badVersion[4] = 9;
  cases.push([badVersion, /version 9/]);
  for (const [bytes, re] of cases) {
    assert.throws(() => decodeTrackerFrameHeader(bytes), (e: unknown) => e instanceof ProtocolError && e.code === 'SW_ERR_DECODE' && re.test(e.message));
  }
  assert.throws(() => encodeTrackerFrame(70000, 1, columns(1)), RangeError);
});
