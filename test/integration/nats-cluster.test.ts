/**
 * A 3-server JetStream cluster on loopback with R3 streams: kill -9 the
 * work stream's leader while a producer enqueues and a consumer acks.
 * Publishing and consuming continue after the leader election, and every
 * confirmed enqueue is consumed: lost = 0 (duplicates, which at-least-once
 * allows, are counted and printed).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, type NatsTransport } from '../../actors/runtime/transport/nats.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-server.js';
import { dec, enc, fastTopology, freshNames, waitFor } from './nats-fixtures.js';

let cluster: NatsCluster | null = null;
const transports: NatsTransport[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await cluster?.stop();
});

async function streamLeader(urls: string[], stream: string): Promise<string> {
  const nc = await connect({ servers: urls });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const leader = info.cluster?.leader;
    if (!leader) throw new Error(`${stream} has no leader`);
    assert.equal(info.config.num_replicas, 3);
    assert.equal(info.cluster?.replicas?.length, 2, 'two followers');
    return leader;
  } finally {
    await nc.close();
  }
}

async function killUnderLoad(victimOf: 'stream leader' | 'connected server'): Promise<void> {
  if (cluster) await cluster.stop();
  cluster = await startNatsCluster(3);
  const n = freshNames();
  const settings = fastTopology({ replicas: 3, ackWaitMs: 3000, maxDeliver: 50 });
  const errors: unknown[] = [];
  const t = await connectNats({
    servers: cluster.urls,
    names: n,
    topology: settings,
    enqueueTimeoutMs: 30_000,
    provisionTimeoutMs: 60_000,
    onError: (e) => errors.push(e),
  });
  transports.push(t);
  await t.provision();

  const consumed = new Map<string, number>();
  let ackFailures = 0;
  /** When each first consumption happened: the longest silence after the kill is the work stall. */
  const consumedAt: number[] = [];
  const consumer = await t.consume('satellite', { prefetch: 8 }, async (m) => {
    if (!consumed.has(m.msgId)) consumedAt.push(Date.now());
    consumed.set(m.msgId, (consumed.get(m.msgId) ?? 0) + 1);
    assert.equal(dec(m.data), m.msgId);
    try {
      await m.ack();
    } catch {
      ackFailures++; // unknown outcome: the task comes back after AckWait
    }
  });

  const confirmed: string[] = [];
  let confirmedAfterKill = 0;
  let killed = false;
  let producing = true;
  let next = 0;
  const producer = async () => {
    while (producing) {
      const id = `c-${next++}`;
      await t.enqueue('satellite', id, enc(id)); // retries through the election; throws only after 30 s
      confirmed.push(id);
      if (killed) confirmedAfterKill++;
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const producers = Promise.all([producer(), producer()]);

  await waitFor('traffic flowing', 20_000, () => consumed.size >= 100);
  const leader = await streamLeader(cluster.urls, n.streams.work('satellite'));
  const victimName = victimOf === 'stream leader' ? leader : t.connectedServer;
  const victim = cluster.servers.find((s) => s.name === victimName);
  assert.ok(victim, `${victimOf} ${victimName} is one of ours`);
  await victim.kill('SIGKILL');
  const killedAt = Date.now();
  killed = true;
  const consumedAtKill = consumed.size;

  await waitFor('enqueues confirmed after the kill', 30_000, () => confirmedAfterKill >= 100);
  await waitFor('consumption continues after the kill', 30_000, () => consumed.size >= consumedAtKill + 100);
  // Work stall: the longest time without a new task consumed, from the kill until consumption resumed.
  let stallMs = 0;
  let prev = killedAt;
  for (const at of consumedAt) {
    if (at < killedAt) continue;
    stallMs = Math.max(stallMs, at - prev);
    prev = at;
  }
  producing = false;
  await producers;

  const missing = () => confirmed.filter((id) => !consumed.has(id));
  await waitFor(`all ${confirmed.length} confirmed tasks consumed`, 60_000, () => missing().length === 0, 250);
  await waitFor('queue drained', 30_000, async () => (await t.queueStats('satellite')).depth === 0, 250);
  await consumer.stop();
  const duplicates = [...consumed.values()].filter((c) => c > 1).length;
  const newLeader = await streamLeader(
    cluster.servers.filter((s) => s.running).map((s) => s.url),
    n.streams.work('satellite'),
  ).catch((e: Error) => `unknown (${e.message})`);
  console.log(
    `cluster: killed ${victimOf} ${victim.name} (leader was ${leader}); new leader ${newLeader}; confirmed=${confirmed.length} after-kill=${confirmedAfterKill} ` +
      `consumed=${consumed.size} duplicates=${duplicates} ackFailures=${ackFailures} backgroundErrors=${errors.length} workStallMs=${stallMs}`,
  );
  assert.deepEqual(missing(), [], 'lost = 0');
  if (victim.name === leader) assert.notEqual(newLeader, leader);
  if (victimOf === 'connected server') assert.notEqual(t.connectedServer, victim.name, 'client failed over to another server');
  await t.close();
}

test('R3 cluster: kill -9 the stream leader under load; publishing and consuming continue; lost = 0', { timeout: 180_000 }, async () => {
  await killUnderLoad('stream leader');
});

test('R3 cluster: kill -9 the server the client is connected to; it fails over; lost = 0', { timeout: 180_000 }, async () => {
  await killUnderLoad('connected server');
});
