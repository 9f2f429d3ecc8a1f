/**
 * What a node runs, decided from its config (supervisor/node.ts): the host
 * mode, how many tracker hosts, the child ids, and the storage check that
 * refuses forked hosts sharing the embedded database.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import { ConfigError } from '../../protocol/errors.js';
import { checkStorageLayout, childSpecs, nodeMode, type ChildStarters } from '../../supervisor/node.js';

// childSpecs only keeps references to these; the test never starts a child.
const starters: ChildStarters = {
  inline: async () => {
    throw new Error('not started in this test');
  },
  thread: async () => {
    throw new Error('not started in this test');
  },
};

test('the host mode: forked processes with NATS, threads by default without it, inline on request', () => {
  assert.equal(nodeMode(loadConfig({ env: { NATS_URL: 'nats://127.0.0.1:4222' } })), 'process');
  assert.equal(nodeMode(loadConfig({ env: {} })), 'thread');
  assert.equal(nodeMode(loadConfig({ env: { STARWEATHER_EMBEDDED_HOSTS: 'inline' } })), 'inline');
  assert.equal(nodeMode(loadConfig({ env: { NATS_URL: 'nats://127.0.0.1:4222', STARWEATHER_EMBEDDED_HOSTS: 'inline' } })), 'process', 'the option is for the embedded bus only');
});

test('tracker hosts: one by default, or as configured', () => {
  assert.equal(loadConfig({ env: {} }).supervisor.trackerHosts, 1);
  assert.equal(loadConfig({ env: { STARWEATHER_TRACKER_HOSTS: '3' } }).supervisor.trackerHosts, 3);
  assert.throws(() => loadConfig({ env: { STARWEATHER_TRACKER_HOSTS: '0' } }), ConfigError);
  assert.throws(() => loadConfig({ env: { STARWEATHER_TRACKER_HOSTS: '17' } }), ConfigError);
});

test('child ids: one per role, further tracker hosts as tracker-2, tracker-3 …', () => {
  const cfg = loadConfig({ env: { STARWEATHER_TRACKER_HOSTS: '3' } });
  const specs = childSpecs(cfg, 'thread', starters);
  assert.deepEqual(
    specs.map((s) => [s.id, s.role, s.start.mode]),
    [
      ['tracker', 'tracker', 'thread'],
      ['tracker-2', 'tracker', 'thread'],
      ['tracker-3', 'tracker', 'thread'],
      ['worker', 'worker', 'thread'],
      ['tile', 'tile', 'thread'],
      ['ingest', 'ingest', 'thread'],
      ['gateway', 'gateway', 'thread'],
    ],
  );
  const one = childSpecs(loadConfig({ env: { NATS_URL: 'nats://127.0.0.1:4222', STARWEATHER_ROLES: 'tracker,gateway' } }), 'process', starters);
  assert.deepEqual(one.map((s) => [s.id, s.start.mode]), [['tracker', 'process'], ['gateway', 'process']]);
});

test('forked hosts that would share the embedded database are refused before anything starts', () => {
  const nats = { NATS_URL: 'nats://127.0.0.1:4222' };
  checkStorageLayout(loadConfig({ env: { ...nats, STARWEATHER_ROLES: 'tracker' } }), 'process');
  assert.throws(
    () => checkStorageLayout(loadConfig({ env: { ...nats, STARWEATHER_ROLES: 'tracker', STARWEATHER_TRACKER_HOSTS: '2' } }), 'process'),
    (err: unknown) => err instanceof ConfigError && /2 tracker hosts/.test(err.message),
  );
  assert.throws(() => checkStorageLayout(loadConfig({ env: { ...nats, STARWEATHER_ROLES: 'tracker,gateway' } }), 'process'), ConfigError);
  checkStorageLayout(loadConfig({ env: { ...nats, STARWEATHER_ROLES: 'tracker,gateway', DATABASE_URL: 'postgres://127.0.0.1/test' } }), 'process');
  // Threads and inline hosts share the node's one storage.
  checkStorageLayout(loadConfig({ env: { STARWEATHER_TRACKER_HOSTS: '2' } }), 'thread');
});
