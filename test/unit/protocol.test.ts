import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WorkTaskMessage, DeadLetterMessage, MemberMessage, LeaseMessage, ClusterStatusMessage, ProtocolError, names, topology, DEFAULT_TOPOLOGY, QUEUES } from '../../protocol/index.js';
import { renderProtocolDoc } from '../../protocol/doc/render.js';

const task = { v: 1 as const, id: 'scene-1:tile-3', kind: 'tile.process', queue: 'weather' as const, createdAt: '2026-11-25T10:00:00.000Z', payload: { x: 1 } };

test('work task round-trips through its codec', () => {
  const bytes = WorkTaskMessage.encode(task);
  assert.deepEqual(WorkTaskMessage.decode(bytes), task);
});

test('malformed bytes are a decode error, not a crash', () => {
  const err = assert.throws(() => WorkTaskMessage.decode(new Uint8Array([0x7b, 0x22, 0xff])), ProtocolError);
  assert.throws(() => WorkTaskMessage.decode(new TextEncoder().encode('{"v":1')), (e: unknown) => e instanceof ProtocolError && e.code === 'SW_ERR_DECODE');
  void err;
});

test('schema errors name the offending field', () => {
  const bad = { ...task, queue: 'urgent' };
  assert.throws(
    () => WorkTaskMessage.decode(new TextEncoder().encode(JSON.stringify(bad))),
    (e: unknown) => e instanceof ProtocolError && e.code === 'SW_ERR_SCHEMA' && e.path === '/queue',
  );
  const extra = { ...task, extra: true };
  assert.throws(() => WorkTaskMessage.assert(extra), (e: unknown) => e instanceof ProtocolError && e.code === 'SW_ERR_SCHEMA');
  assert.throws(() => WorkTaskMessage.assert({ ...task, createdAt: 'yesterday' }), /createdAt/);
  assert.throws(() => WorkTaskMessage.assert({ ...task, id: 'a b' }), /\/id/);
});

test('every message type validates a good value and rejects a bad one', () => {
  const now = Date.now();
  assert.ok(MemberMessage.check({ v: 1, hostId: 'h', nodeId: 'n', role: 'tracker', pid: 1, startedAt: now, heartbeatAt: now, expiresAt: now + 1, draining: false }));
  assert.ok(!MemberMessage.check({ v: 1, hostId: 'h', nodeId: 'n', role: 'pilot', pid: 1, startedAt: now, heartbeatAt: now, expiresAt: now + 1, draining: false }));
  assert.ok(LeaseMessage.check({ v: 1, holder: 'h', acquiredAt: now, expiresAt: now + 10 }));
  assert.ok(!LeaseMessage.check({ v: 1, holder: '', acquiredAt: now, expiresAt: now + 10 }));
  const dl = { v: 1 as const, queue: 'high' as const, taskId: null, kind: null, code: 'SW_ERR_DECODE', reason: 'bad', deliveries: 1, failedAt: new Date().toISOString(), original: '' };
  assert.deepEqual(DeadLetterMessage.decode(DeadLetterMessage.encode(dl)), dl);
  assert.ok(!DeadLetterMessage.check({ ...dl, code: 'oops' }));
  assert.ok(ClusterStatusMessage.check({ v: 1, nodeId: 'n', at: now, roles: ['gateway'], hosts: [], queues: { high: { depth: 0 } }, deadLetters: 0 }));
});

test('names are namespaced and valid NATS tokens', () => {
  const n = names('t42');
  assert.equal(n.subjects.work('high'), 't42.work.high.v1');
  assert.equal(n.streams.work('weather'), 'T42_WORK_WEATHER');
  assert.equal(n.buckets.leases, 't42_leases');
  assert.throws(() => names('Bad-NS'), TypeError);
  const t = topology(n, DEFAULT_TOPOLOGY);
  // Work-queue streams need non-overlapping filters: one consumer per subject.
  const filters = t.consumers.map((c) => c.filterSubject);
  assert.equal(new Set(filters).size, QUEUES.length + 1, 'one per work queue, plus the dead-letter relay');
  assert.equal(t.consumers.length, QUEUES.length + 1);
  for (const c of t.consumers) assert.ok(c.maxDeliver > 0, 'MaxDeliver must be finite (RELIABILITY.md)');
});

test('protocol/PROTOCOL.md is generated from the current schemas', () => {
  const path = fileURLToPath(new URL('../../../protocol/PROTOCOL.md', import.meta.url));
  assert.equal(readFileSync(path, 'utf8'), renderProtocolDoc(), 'run `npm run docs` and commit the result');
});
