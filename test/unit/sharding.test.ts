import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a32, rendezvousOwner, shardOf } from '../../actors/runtime/sharding.js';

test('fnv1a32 matches the published FNV-1a 32-bit test vectors', () => {
  // Vectors from the FNV reference (isthe.com/chongo/tech/comp/fnv, test_fnv.c).
  const table: Array<[string, number]> = [
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ];
  for (const [input, want] of table) assert.equal(fnv1a32(input), want, JSON.stringify(input));
});

test('shardOf is a stable public contract (fixed values every node must reproduce)', () => {
  // FNV-1a of the UTF-8 bytes, mod shardCount; non-ASCII hashed as UTF-8, not UTF-16.
  assert.equal(shardOf('foobar', 64), 0xbf9cf968 % 64);
  assert.equal(shardOf('a', 256), 0xe40c292c % 256);
  assert.equal(shardOf('é', 1 << 30), fnv1a32('é') % (1 << 30));
  let h = 0x811c9dc5;
  for (const b of [0xc3, 0xa9]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  assert.equal(fnv1a32('é'), h);
  for (let i = 0; i < 1000; i++) assert.equal(shardOf(`sat-${i}`, 64), shardOf(`sat-${i}`, 64));
});

test('shardOf rejects bad shard counts and ids', () => {
  assert.throws(() => shardOf('x', 0), /shardCount/);
  assert.throws(() => shardOf('x', 1.5), /shardCount/);
  assert.throws(() => shardOf(42 as unknown as string, 8), /entityId/);
});

test('shardOf spreads 10,000 ids roughly uniformly over 64 shards', () => {
  const shards = 64;
  const counts = new Array<number>(shards).fill(0);
  const n = 10_000;
  for (let i = 0; i < n; i++) counts[shardOf(`norad-${25544 + i}`, shards)]!++;
  const expected = n / shards;
  // Chi-square with 63 degrees of freedom: the 99.9th percentile is about 103.4.
  const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 103.4, `chi-square ${chi2.toFixed(1)} over 63 dof: not uniform (${counts.join(',')})`);
  assert.ok(Math.min(...counts) > expected * 0.6 && Math.max(...counts) < expected * 1.4, counts.join(','));
});

test('rendezvousOwner is deterministic and independent of host order', () => {
  const hosts = ['h-a', 'h-b', 'h-c', 'h-d'];
  for (let s = 0; s < 256; s++) {
    const owner = rendezvousOwner(s, hosts);
    assert.ok(owner !== null && hosts.includes(owner));
    assert.equal(rendezvousOwner(s, [...hosts].reverse()), owner);
  }
  assert.equal(rendezvousOwner(3, []), null);
  assert.equal(rendezvousOwner(3, ['only']), 'only');
});

test('rendezvous moves only about 1/N of the shards when a host joins, and only to the new host', () => {
  const shardCount = 1024;
  for (const n of [2, 3, 5, 9]) {
    const before = Array.from({ length: n }, (_, i) => `host-${i}`);
    const after = [...before, `host-${n}`];
    let moved = 0;
    const load = new Map<string, number>();
    for (let s = 0; s < shardCount; s++) {
      const a = rendezvousOwner(s, before)!;
      const b = rendezvousOwner(s, after)!;
      load.set(b, (load.get(b) ?? 0) + 1);
      if (a !== b) {
        moved++;
        assert.equal(b, `host-${n}`, `shard ${s} moved between two old hosts`);
      }
    }
    const ideal = shardCount / (n + 1);
    assert.ok(Math.abs(moved - ideal) < ideal * 0.3, `n=${n}: moved ${moved}, ideal ${ideal.toFixed(0)}`);
    for (const [host, count] of load) assert.ok(Math.abs(count - ideal) < ideal * 0.35, `n=${n}: ${host} owns ${count}, ideal ${ideal.toFixed(0)}`);
  }
});

test('rendezvous moves only the leaving host\'s shards when a host leaves', () => {
  const hosts = ['a', 'b', 'c', 'd'];
  const rest = ['a', 'c', 'd'];
  for (let s = 0; s < 512; s++) {
    const a = rendezvousOwner(s, hosts)!;
    if (a !== 'b') assert.equal(rendezvousOwner(s, rest), a);
  }
});
