/**
 * ClusterStatusReporter on a real bus: it publishes this node's status with
 * queue depths and dead letters, keeps what every node publishes, ignores
 * and counts malformed statuses, and collectClusterStatus (the `status`
 * command) hears the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { names as makeNames } from '../../protocol/names.js';
import { ClusterStatusMessage } from '../../protocol/messages/cluster.js';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { ClusterStatusReporter, collectClusterStatus } from '../../supervisor/cluster-status.js';
import type { ChildStatus } from '../../supervisor/supervisor.js';
import { waitFor } from '../helpers/processes.js';

const host: ChildStatus = {
  id: 'worker',
  role: 'worker',
  mode: 'inline',
  hostId: 'n1-worker-1',
  threadId: null,
  pid: 123,
  state: 'running',
  draining: false,
  restarts: 2,
  startedAt: 1,
  lastHeartbeatAt: 2,
  actors: 0,
  inFlight: 1,
  eventLoopP99Ms: 1,
  slow: false,
  stalledMs: 0,
  lastBeatAt: null,
  queueDepths: {},
  info: null,
  lastExit: null,
};

test('status is published, collected per node, and malformed statuses are counted', async () => {
  const n = makeNames('tstatus');
  const bus = new EmbeddedTransport({ names: n });
  await bus.provision();
  try {
    await bus.enqueue('weather', 'w-1', new TextEncoder().encode('{}'));
    const a = new ClusterStatusReporter({ transport: bus, names: n, nodeId: 'n1', roles: ['worker'], hosts: () => [host], intervalMs: 100 });
    const b = new ClusterStatusReporter({ transport: bus, names: n, nodeId: 'n2', roles: ['tracker'], hosts: () => [], intervalMs: 100 });
    const heard = collectClusterStatus(bus, n, 600);
    a.start();
    b.start();
    bus.publish(n.subjects.clusterStatus, new TextEncoder().encode('{"v":1,"nodeId":"evil"}'));
    bus.publish(n.subjects.clusterStatus, new Uint8Array([0xff, 0x00]));
    assert.ok(await waitFor(() => a.nodes().length === 2 && b.nodes().length === 2, 5000));
    const n1 = b.nodes().find((s) => s.nodeId === 'n1')!;
    assert.ok(ClusterStatusMessage.check(n1));
    assert.deepEqual(n1.roles, ['worker']);
    assert.deepEqual(n1.hosts, [{ hostId: 'n1-worker-1', role: 'worker', pid: 123, state: 'running', actors: 0, restarts: 2, lastHeartbeatAt: 2, slow: false, eventLoopP99Ms: 1, stalledMs: 0 }]);
    assert.deepEqual(n1.queues, { high: { depth: 0 }, satellite: { depth: 0 }, weather: { depth: 1 } });
    assert.equal(n1.deadLetters, 0);
    assert.equal(a.invalid, 2);
    assert.equal(b.invalid, 2);
    const collected = await heard;
    assert.deepEqual(collected.nodes.map((s) => s.nodeId), ['n1', 'n2']);
    assert.equal(collected.invalid, 2);
    a.stop();
    b.stop();
  } finally {
    await bus.close();
  }
});

test('statuses older than staleAfterMs are dropped', async () => {
  const n = makeNames('tstale');
  const bus = new EmbeddedTransport({ names: n });
  await bus.provision();
  try {
    const r = new ClusterStatusReporter({ transport: bus, names: n, nodeId: 'me', roles: ['worker'], hosts: () => [], intervalMs: 10_000, staleAfterMs: 300 });
    r.start();
    const old = { v: 1 as const, nodeId: 'gone', at: Date.now(), roles: [], hosts: [], queues: {}, deadLetters: 0 };
    bus.publish(n.subjects.clusterStatus, ClusterStatusMessage.encode(old));
    assert.ok(await waitFor(() => r.nodes().some((s) => s.nodeId === 'gone'), 2000));
    // "me" is not republished within the interval either: both go stale.
    assert.ok(await waitFor(() => r.nodes().length === 0, 3000));
    r.stop();
  } finally {
    await bus.close();
  }
});
