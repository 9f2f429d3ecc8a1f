/**
 * createTransport picks the bus from the config and hands it the config's
 * namespace and work settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../config/load.js';
import { createTransport, EmbeddedTransport, NatsTransport } from '../../actors/runtime/transport/index.js';
import { NATS_URL, deleteNamespace, freshNames } from '../integration/nats-fixtures.js';

test('no nats.url: the embedded bus, with the config namespace and work settings', async () => {
  const cfg = loadConfig({ env: {}, overrides: { namespace: 'factoryt', 'work.ackWaitMs': 1234, 'work.maxDeliver': 7 } });
  const t = await createTransport(cfg);
  try {
    assert.equal(t.kind, 'embedded');
    assert.ok(t instanceof EmbeddedTransport);
    assert.equal(t.names.namespace, 'factoryt');
    assert.equal(t.settings.ackWaitMs, 1234);
    assert.equal(t.settings.maxDeliver, 7);
    const kv = await t.kv('leases');
    assert.equal(kv.name, 'factoryt_leases');
  } finally {
    await t.close();
  }
});

test('nats.url set: NatsTransport, provisioned under the config namespace', async () => {
  const n = freshNames();
  const cfg = loadConfig({ env: {}, overrides: { namespace: n.namespace, 'nats.url': NATS_URL, 'work.maxDeliver': 4 } });
  const t = await createTransport(cfg, { name: 'factory-test' });
  try {
    assert.equal(t.kind, 'nats');
    assert.ok(t instanceof NatsTransport);
    const r = await t.enqueue('high', 'f-1', new Uint8Array([1]));
    assert.equal(r.duplicate, false);
    const got = await new Promise<number>((resolve) => {
      void t.consume('high', { prefetch: 1 }, async (m) => {
        await m.ack();
        resolve(m.maxDeliver);
      });
    });
    assert.equal(got, 4, 'the consumer was provisioned with the config MaxDeliver');
    assert.equal((await t.kv('members')).name, `${n.namespace}_members`);
  } finally {
    await t.close();
    await deleteNamespace(NATS_URL, n);
  }
});

test('an unreachable NATS fails with SW_ERR_TRANSPORT, not a hang', async () => {
  const cfg = loadConfig({ env: {}, overrides: { namespace: 'factoryu', 'nats.url': 'nats://127.0.0.1:1' } });
  await assert.rejects(createTransport(cfg), { code: 'SW_ERR_TRANSPORT' });
});
