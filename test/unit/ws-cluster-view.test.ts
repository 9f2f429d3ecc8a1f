/**
 * ClusterView (actors/gateway/cluster-view.ts): the latest status per node,
 * late reports ignored, stale nodes and excess nodes dropped, totals across
 * nodes (queues and dead letters are cluster-wide: the highest report, not
 * the sum), malformed reports counted; and the new websocket messages'
 * schemas (protocol/messages/ws.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterView } from '../../actors/gateway/cluster-view.js';
import { ClusterStatusMessage, type ClusterStatus } from '../../protocol/messages/cluster.js';
import { ClusterViewSchema, WsClientMessage, WsServerMessage } from '../../protocol/messages/ws.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const status = (nodeId: string, at: number, over: Partial<ClusterStatus> = {}): ClusterStatus => ({
  v: 1,
  nodeId,
  at,
  roles: ['gateway', 'worker'],
  hosts: [
    { hostId: `${nodeId}-gw`, role: 'gateway', pid: 10, state: 'running', actors: 1, restarts: 0, lastHeartbeatAt: at },
    { hostId: `${nodeId}-wk`, role: 'worker', pid: 11, state: 'running', actors: 3, restarts: 2, lastHeartbeatAt: at },
  ],
  queues: { high: { depth: 1 }, satellite: { depth: 5 }, weather: { depth: 0 } },
  deadLetters: 2,
  ...over,
});

test('latest status per node, totals across nodes, stale and late reports', () => {
  const v = new ClusterView({ staleMs: 10_000 });
  assert.equal(v.ingest(ClusterStatusMessage.encode(status('b', 1000)), 1000), true);
  v.ingest(ClusterStatusMessage.encode(status('a', 1000, { queues: { high: { depth: 4 } }, deadLetters: 7 })), 1000);
  v.ingest(ClusterStatusMessage.encode(status('a', 2000, { queues: { high: { depth: 3 } }, deadLetters: 7 })), 2000);
  v.ingest(ClusterStatusMessage.encode(status('a', 1500, { queues: { high: { depth: 99 } } })), 2000); // late
  const view = v.view(2500);
  assert.ok(TypeCompiler.Compile(ClusterViewSchema).Check(view));
  assert.deepEqual(view.nodes.map((n) => [n.nodeId, n.ageMs]), [['a', 500], ['b', 1500]]);
  assert.deepEqual(view.totals, { nodes: 2, hosts: 4, actors: 8, restarts: 4, queues: { high: 3, satellite: 5, weather: 0 }, deadLetters: 7 });
  assert.equal(view.tasks, null, 'no storage: no task figures');
  // b is not heard again: gone after staleMs.
  assert.deepEqual(v.view(11_500).nodes.map((n) => n.nodeId), ['a']);
  assert.equal(v.ingest(new TextEncoder().encode('{"v":1,"nodeId":"x"}')), false);
  assert.equal(v.ingest(new Uint8Array([0xff])), false);
  assert.equal(v.invalid, 2);
});

test('at most maxNodes nodes are kept (the least recently heard go first)', () => {
  const v = new ClusterView({ maxNodes: 3, staleMs: 60_000 });
  for (let i = 0; i < 10; i++) v.ingest(ClusterStatusMessage.encode(status(`n${i}`, 1000 + i)), 1000 + i);
  assert.deepEqual(v.view(2000).nodes.map((n) => n.nodeId), ['n7', 'n8', 'n9']);
});

test('websocket messages: subscribe with channels, resume, and the server messages validate', () => {
  assert.equal(WsClientMessage.decode(new TextEncoder().encode('{"type":"subscribe","alerts":true,"cluster":true}')).type, 'subscribe');
  const r = WsClientMessage.decode(new TextEncoder().encode('{"type":"resume","session":"abcDEF123_-","lastSeq":42}'));
  assert.deepEqual(r, { type: 'resume', session: 'abcDEF123_-', lastSeq: 42 });
  for (const bad of ['{"type":"resume"}', '{"type":"resume","session":"a b"}', '{"type":"resume","session":"x","lastSeq":-1}', '{"type":"resume","session":"x","lastSeq":4294967296}']) {
    assert.throws(() => WsClientMessage.decode(new TextEncoder().encode(bad)), (e: { code?: string }) => e.code === 'SW_ERR_SCHEMA', bad);
  }
  assert.ok(WsServerMessage.check({ type: 'resumed', session: 's', matched: 1, seq: 3, alerts: true, cluster: false }));
  assert.ok(
    WsServerMessage.check({
      type: 'alert',
      replay: false,
      alert: { v: 1, id: 'storm:1', kind: 'storm-warning', severity: 'critical', noradId: null, message: 'm', raisedAt: '2026-11-25T20:00:00.000Z', payload: {} },
    }),
  );
  const view = new ClusterView().view(5);
  assert.ok(WsServerMessage.check({ type: 'cluster', view }));
  assert.ok(!WsServerMessage.check({ type: 'alert', replay: false, alert: { id: 'x' } }));
});
