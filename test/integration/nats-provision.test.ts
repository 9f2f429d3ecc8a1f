/**
 * R9: every stream, consumer and bucket we ask for reads back equal; a
 * second provision is a no-op; concurrent provisioning is safe; a stream
 * that exists with a config we cannot change fails loudly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, AckPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { ProvisionError } from '../../protocol/errors.js';
import { topology } from '../../protocol/topology.js';
import { QUEUES, type Names } from '../../protocol/names.js';
import { NATS_URL, deleteNamespace, fastTopology, freshNames } from './nats-fixtures.js';

const used: Names[] = [];
after(async () => {
  await Promise.all(used.map((n) => deleteNamespace(NATS_URL, n)));
});

const NS = 1_000_000;

test('R9: every requested field reads back equal', async () => {
  const n = freshNames();
  used.push(n);
  const settings = fastTopology({ ackWaitMs: 1500, maxDeliver: 4, dedupeWindowMs: 90_000, deadLetterMaxAgeMs: 7_200_000 });
  const t = await connectNats({ servers: NATS_URL, names: n, topology: settings });
  try {
    await t.provision();
  } finally {
    await t.close();
  }
  const topo = topology(n, settings);
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for (const s of topo.streams) {
      const { config } = await jsm.streams.info(s.name);
      assert.deepEqual([...config.subjects].sort(), [...s.subjects].sort(), `${s.name} subjects`);
      assert.equal(config.retention, s.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits, `${s.name} retention`);
      assert.equal(config.storage, StorageType.File, `${s.name} storage`);
      assert.equal(config.num_replicas, s.replicas, `${s.name} replicas`);
      assert.equal(config.duplicate_window, s.duplicateWindowMs * NS, `${s.name} duplicate_window`);
      assert.equal(config.max_age, s.maxAgeMs * NS, `${s.name} max_age`);
      assert.equal(config.discard, s.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old, `${s.name} discard`);
    }
    // The work queues, the dead-letter stream and the stored MaxDeliver advisories.
    assert.equal(topo.streams.length, QUEUES.length + 2);
    for (const c of topo.consumers) {
      const { config } = await jsm.consumers.info(c.stream, c.durable);
      assert.equal(config.durable_name, c.durable);
      assert.equal(config.filter_subject, c.filterSubject);
      assert.equal(config.ack_policy, AckPolicy.Explicit);
      assert.equal(config.ack_wait, c.ackWaitMs * NS);
      assert.equal(config.max_deliver, c.maxDeliver);
      assert.equal(config.max_ack_pending, c.maxAckPending);
    }
    const kvm = new Kvm(nc);
    for (const b of topo.buckets) {
      const st = await (await kvm.open(b.bucket)).status();
      assert.equal(st.history, b.history, `${b.bucket} history`);
      assert.equal(st.replicas, b.replicas, `${b.bucket} replicas`);
      assert.equal(st.ttl, 0, `${b.bucket} ttl`);
      assert.equal(st.description, b.description);
    }
  } finally {
    await nc.close();
  }
});

test('R9: concurrent provisioning by several processes always succeeds (creation races)', async () => {
  // Races surface as different server errors ("name already in use",
  // "subjects overlap"); several rounds make each likely to occur.
  for (let round = 0; round < 6; round++) {
    const n = freshNames();
    used.push(n);
    const ts = await Promise.all([1, 2, 3, 4].map(() => connectNats({ servers: NATS_URL, names: n, topology: fastTopology() })));
    try {
      await Promise.all(ts.map((t) => t.provision()));
    } finally {
      await Promise.all(ts.map((t) => t.close()));
    }
  }
});

test('R9: provisioning twice is a no-op, and concurrent provisioning succeeds', async () => {
  const n = freshNames();
  used.push(n);
  const settings = fastTopology();
  const ts = await Promise.all([1, 2, 3].map(() => connectNats({ servers: NATS_URL, names: n, topology: settings })));
  try {
    await Promise.all(ts.map((t) => t.provision()));
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const before = await jsm.streams.info(n.streams.work('high'));
      const cBefore = await jsm.consumers.info(n.streams.work('high'), n.consumers.work('high'));
      await ts[0]!.provision();
      const afterInfo = await jsm.streams.info(n.streams.work('high'));
      const cAfter = await jsm.consumers.info(n.streams.work('high'), n.consumers.work('high'));
      assert.equal(afterInfo.created, before.created, 'stream not recreated');
      assert.deepEqual(afterInfo.config, before.config, 'stream config unchanged');
      assert.equal(cAfter.created, cBefore.created, 'consumer not recreated');
      assert.deepEqual(cAfter.config, cBefore.config);
    } finally {
      await nc.close();
    }
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('R9: a changed setting (AckWait) is updated in place and reads back', async () => {
  const n = freshNames();
  used.push(n);
  const a = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology({ ackWaitMs: 2000 }) });
  await a.provision();
  await a.close();
  const b = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology({ ackWaitMs: 3000, maxDeliver: 7 }) });
  try {
    await b.provision();
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.consumers.info(n.streams.work('weather'), n.consumers.work('weather'));
    await nc.close();
    assert.equal(config.ack_wait, 3000 * NS);
    assert.equal(config.max_deliver, 7);
  } finally {
    await b.close();
  }
});

test('R9: a pre-existing stream with another retention fails loudly with ProvisionError', async () => {
  const n = freshNames();
  used.push(n);
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: n.streams.work('satellite'),
      subjects: [n.subjects.work('satellite')],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
  } finally {
    await nc.close();
  }
  const t = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology() });
  try {
    await assert.rejects(t.provision(), (err: unknown) => {
      assert.ok(err instanceof ProvisionError, `expected ProvisionError, got ${String(err)}`);
      assert.equal(err.code, 'SW_ERR_PROVISION');
      assert.match(err.message, new RegExp(n.streams.work('satellite')));
      assert.match(err.message, /retention: wanted "workqueue", server has "limits"/);
      return true;
    });
  } finally {
    await t.close();
  }
});

test('R9: a pre-existing KV bucket with TTL is corrected or reported, never accepted silently', async () => {
  const n = freshNames();
  used.push(n);
  const nc = await connect({ servers: NATS_URL });
  try {
    await new Kvm(nc).create(n.buckets.leases, { history: 5, ttl: 60_000 });
  } finally {
    await nc.close();
  }
  const t = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology() });
  try {
    await t.provision();
  } finally {
    await t.close();
  }
  const nc2 = await connect({ servers: NATS_URL });
  try {
    const st = await (await new Kvm(nc2).open(n.buckets.leases)).status();
    assert.equal(st.history, 1);
    assert.equal(st.ttl, 0);
  } finally {
    await nc2.close();
  }
});
