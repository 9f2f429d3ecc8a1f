import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, KEYS, ConfigError } from '../../config/index.js';
import { ConfigError as ProtocolConfigError } from '../../protocol/errors.js';

test('defaults give an embedded single node on port 8080', () => {
  const cfg = loadConfig({ env: {} });
  assert.equal(cfg.http.port, 8080);
  assert.equal(cfg.nats.url, '');
  assert.equal(cfg.database.url, '');
  assert.equal(cfg.namespace, 'sw');
  assert.ok(cfg.roles.includes('gateway'));
  assert.ok(cfg.nodeId.length > 0);
});

test('environment overrides the file, the file overrides defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcfg-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ http: { port: 9000 }, work: { maxDeliver: 7 }, roles: ['tracker'] }));
    const cfg = loadConfig({ env: { STARWEATHER_CONFIG: file, STARWEATHER_PORT: '9100', NATS_URL: 'nats://127.0.0.1:4222' } });
    assert.equal(cfg.http.port, 9100);
    assert.equal(cfg.work.maxDeliver, 7);
    assert.deepEqual(cfg.roles, ['tracker']);
    assert.equal(cfg.nats.url, 'nats://127.0.0.1:4222');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a bad value names its key', () => {
  assert.throws(() => loadConfig({ env: { STARWEATHER_PORT: 'abc' } }), (e: unknown) => e instanceof ConfigError && /STARWEATHER_PORT/.test(e.message));
  assert.throws(() => loadConfig({ env: { STARWEATHER_PORT: '70000' } }), /STARWEATHER_PORT.*≤ 65535/);
  assert.throws(() => loadConfig({ env: { STARWEATHER_ROLES: 'tracker,pilot' } }), /STARWEATHER_ROLES/);
  assert.throws(() => loadConfig({ env: { DATABASE_URL: 'mysql://x' } }), /DATABASE_URL.*scheme/);
  assert.throws(() => loadConfig({ env: { STARWEATHER_NAMESPACE: 'Has-Dash' } }), /namespace/);
  assert.ok(ConfigError === ProtocolConfigError);
});

test('unknown keys in the file are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcfg-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ http: { prot: 1 } }));
    assert.throws(() => loadConfig({ env: { STARWEATHER_CONFIG: file } }), /http\.prot/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('every key has a STARWEATHER_ env name or a name under its service (NATS_*, DATABASE_*, REDIS_*)', () => {
  // The services' connection settings keep the names operators already use for them (NATS_URL, NATS_USER, REDIS_PASSWORD, …).
  for (const k of KEYS) assert.match(k.env, /^(STARWEATHER_[A-Z0-9_]+|(NATS|DATABASE|REDIS)_[A-Z0-9_]+)$/);
  assert.equal(new Set(KEYS.map((k) => k.env)).size, KEYS.length);
});

test('the README configuration table matches the config schema', async () => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { renderConfigTable } = await import('../../config/doc.js');
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  assert.ok(readme.includes(renderConfigTable()), 'run `npm run docs` and commit README.md');
});
