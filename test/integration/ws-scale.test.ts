/**
 * Gateways scale out: each one subscribes to the tracker frames on NATS
 * itself, so any number can run side by side. Two `starweather node --roles
 * gateway` processes in one namespace, tracker frames published on NATS
 * (real SGP4 states of snapshot objects, one frame per shard): a client on
 * each gateway receives the same tick with the same states.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { shardOf } from '../../actors/runtime/sharding.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { createStateBuffer, propagateBatch } from '../../actors/tracker/propagate.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { encodeTrackerFrame } from '../../protocol/frames/tracker-state.js';
import { freePort } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/processes.js';
import { cliHarness } from '../helpers/cli-harness.js';
import { Client, until } from '../helpers/ws-test-client.js';
import { NATS_URL, deleteNamespace, fastTopology, freshNames } from './nats-fixtures.js';

const harness = cliHarness('sw-wsscale-', { STARWEATHER_HANG_TIMEOUT_MS: '3000', STARWEATHER_CATALOG_ENABLED: 'false' });

test('two gateways on one NATS both deliver every tick to their clients', { timeout: 120_000 }, async () => {
  const n = freshNames();
  const ports = [await freePort(), await freePort()];
  const nodes = ports.map((port, i) =>
    harness.run(
      ['node', '--roles', 'gateway'],
      harness.env({ NATS_URL, STARWEATHER_NAMESPACE: n.namespace, STARWEATHER_SHARD_COUNT: '8', STARWEATHER_NODE_ID: `gw${i}-${n.namespace}`, STARWEATHER_PORT: String(port), STARWEATHER_NODE_PORT: String(0) }),
    ),
  );
  const bus = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology() });
  const clients: Client[] = [];
  try {
    for (const [i, port] of ports.entries()) {
      const up = await waitFor(async () => {
        if (nodes[i]!.proc.exitCode !== null) return true;
        return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status === 200, () => false);
      }, 60_000, 200);
      assert.ok(up && nodes[i]!.proc.exitCode === null, `gateway ${i} not up: ${nodes[i]!.stderr()}`);
    }
    // Real states: 50 snapshot objects propagated with SGP4 to the tick.
    const records = (await loadSnapshot()).records.slice(0, 50);
    const satrecs = records.map((r) => createSatrec(elementSetFromTle(r)).satrec);
    const ids = new Uint32Array(records.map((r) => r.noradId));
    const flags = new Uint32Array(records.length);
    const buf = createStateBuffer(records.length);
    const byShard = new Map<number, number[]>();
    records.forEach((r, i) => {
      const s = shardOf(String(r.noradId), 8);
      byShard.set(s, [...(byShard.get(s) ?? []), i]);
    });
    const publish = (t: number) => {
      propagateBatch(satrecs, records.length, t, buf.state, buf.errors);
      for (const [shard, idx] of byShard) bus.publish(n.subjects.trackerState(shard), encodeTrackerFrame(shard, t, { ids, flags, values: buf.state, count: records.length }, idx));
    };

    for (const port of ports) {
      const c = new Client(`ws://127.0.0.1:${port}/ws`);
      clients.push(c);
      await c.opened;
      c.send({ type: 'subscribe', all: true });
      await c.next('subscribed');
    }
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    for (let k = 1; k <= 3; k++) publish(t0 + k * 1000);
    const last = t0 + 3000;
    await until('both clients got the last tick', 20_000, () => clients.every((c) => c.frames.some((f) => f.tickMs === last)));
    const [fa, fb] = clients.map((c) => c.frames.find((f) => f.tickMs === last)!);
    assert.equal(fa!.ids.length, records.length);
    assert.deepEqual([...fa!.ids].sort((a, b) => a - b), [...fb!.ids].sort((a, b) => a - b));
    for (const id of fa!.ids) assert.equal(fa!.lat.get(id), fb!.lat.get(id));
  } finally {
    for (const c of clients) c.close();
    await bus.close();
    for (const s of nodes) if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
    await Promise.all(nodes.map((s) => s.exited));
    await deleteNamespace(NATS_URL, n);
  }
});
