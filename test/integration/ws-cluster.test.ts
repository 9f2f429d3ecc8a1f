/**
 * GET /cluster and the websocket cluster channel against real nodes: two
 * `starweather node` processes on NATS in a fresh namespace (one with the
 * gateway and a worker, one with a worker only), whose supervisors publish
 * their ClusterStatus every 500 ms. The gateway lists both nodes, their
 * roles, their hosts with actors and restarts, and the queue depths per
 * priority, and pushes the same view to a ws client on the cluster channel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import { cliHarness } from '../helpers/cli-harness.js';
import { Client } from '../helpers/ws-test-client.js';
import { NATS_URL, deleteNamespace, freshNames } from './nats-fixtures.js';

const harness = cliHarness('sw-wscl-', { STARWEATHER_HANG_TIMEOUT_MS: '3000', STARWEATHER_CATALOG_ENABLED: 'false' });

test('GET /cluster and the ws cluster channel list the running nodes, their hosts and the queues', { timeout: 120_000 }, async () => {
  const n = freshNames();
  const port = await freePort();
  const common = { NATS_URL, STARWEATHER_NAMESPACE: n.namespace, STARWEATHER_SHARD_COUNT: '8' };
  const gwNode = `gw-${n.namespace}`;
  const wkNode = `wk-${n.namespace}`;
  const a = harness.run(['node', '--roles', 'gateway,worker'], harness.env({ ...common, STARWEATHER_NODE_ID: gwNode, STARWEATHER_PORT: String(port), STARWEATHER_NODE_PORT: String(await freePort()) }));
  const b = harness.run(['node', '--roles', 'worker'], harness.env({ ...common, STARWEATHER_NODE_ID: wkNode, STARWEATHER_NODE_PORT: String(await freePort()) }));
  let c: Client | null = null;
  try {
    const base = `http://127.0.0.1:${port}`;
    let view: any = null;
    const ok = await waitFor(async () => {
      if (a.proc.exitCode !== null || b.proc.exitCode !== null) return true;
      try {
        const r = await fetch(`${base}/cluster`);
        if (r.status !== 200) return false;
        view = await r.json();
        const ids = view.nodes.map((x: { nodeId: string }) => x.nodeId);
        // Both nodes, every host running.
        return ids.includes(gwNode) && ids.includes(wkNode) && view.nodes.every((x: any) => x.hosts.length > 0 && x.hosts.every((h: any) => h.state === 'running'));
      } catch {
        return false;
      }
    }, 90_000, 300);
    assert.ok(ok && a.proc.exitCode === null && b.proc.exitCode === null, `cluster never listed both nodes: ${JSON.stringify(view)}\n${a.stderr()}\n${b.stderr()}`);
    const gw = view.nodes.find((x: { nodeId: string }) => x.nodeId === gwNode);
    const wk = view.nodes.find((x: { nodeId: string }) => x.nodeId === wkNode);
    assert.deepEqual([...gw.roles].sort(), ['gateway', 'worker']);
    assert.deepEqual(wk.roles, ['worker']);
    assert.deepEqual(gw.hosts.map((h: { role: string }) => h.role).sort(), ['gateway', 'worker']);
    for (const h of [...gw.hosts, ...wk.hosts]) {
      assert.equal(typeof h.actors, 'number');
      assert.equal(typeof h.restarts, 'number');
      assert.ok(h.pid > 0);
      harness.pids.add(h.pid);
    }
    assert.deepEqual(Object.keys(gw.queues).sort(), ['high', 'satellite', 'weather']);
    assert.equal(typeof gw.deadLetters, 'number');
    assert.ok(gw.ageMs >= 0 && gw.ageMs < 10_000);
    assert.equal(view.totals.nodes, 2);
    assert.equal(view.totals.hosts, 3);
    assert.deepEqual(Object.keys(view.totals.queues).sort(), ['high', 'satellite', 'weather']);
    // Task figures from the gateway node's storage (no tasks ran: all zero).
    assert.equal(view.tasks.byState.done, 0);

    c = new Client(`ws://127.0.0.1:${port}/ws`);
    await c.opened;
    c.send({ type: 'subscribe', cluster: true });
    await c.next('subscribed');
    const pushed = await c.next('cluster', 0, 15_000);
    assert.deepEqual(pushed.view.nodes.map((x: { nodeId: string }) => x.nodeId).sort(), [gwNode, wkNode].sort());
    // And again every few seconds.
    const first = c.json.indexOf(pushed);
    assert.equal(typeof pushed.view.totals.hosts, 'number');
    const again = await c.next('cluster', first + 1, 15_000);
    assert.ok(again.view.at > pushed.view.at);
  } finally {
    c?.close();
    for (const s of [a, b]) if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
    await waitFor(() => [...harness.pids].every((p) => !isAlive(p)), 5000);
    await deleteNamespace(NATS_URL, n);
  }
});
