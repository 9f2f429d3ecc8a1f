/**
 * Where the write key comes from (actors/gateway/auth.ts loadApiKey) and
 * what requireApiKey answers in each case: configured, generated at first
 * start (0600, printed once, reused afterwards), cluster mode without a key
 * (503, never open), and a damaged key file. Plus the gateway role itself:
 * `starweather start`'s gateway generates the file in its data dir.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { describeConfig, loadConfig } from '../../config/load.js';
import { API_KEY_FILE, loadApiKey, requireApiKey, type ApiKeyAuth } from '../../actors/gateway/auth.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { startGatewayHarness } from '../helpers/gateway-harness.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sw-auth-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Status, code and WWW-Authenticate of a POST through requireApiKey(auth) on a real server. */
async function probe(auth: ApiKeyAuth, authorization?: string): Promise<{ status: number; code?: string; www: string | null }> {
  const app = Fastify();
  useProblemDetails(app, log);
  app.post('/w', { onRequest: requireApiKey(auth) }, async () => ({ ok: true }));
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const res = await fetch(`${base}/w`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) } });
    const body = (await res.json()) as { code?: string };
    return { status: res.status, ...(body.code ? { code: body.code } : {}), www: res.headers.get('www-authenticate') };
  } finally {
    await app.close();
  }
}

describe('loadApiKey', () => {
  it('embedded without a key: generates 32 random bytes (base64url) at first start, 0600, printed once, reused after', async () => {
    const dataDir = join(tmp(), 'nested', 'data');
    const printed: string[] = [];
    const first = await loadApiKey({ configured: '', dataDir, cluster: false, log, print: (l) => printed.push(l) });
    assert.equal(first.mode, 'generated');
    const file = join(dataDir, API_KEY_FILE);
    const key = readFileSync(file, 'utf8').trim();
    assert.match(key, /^[A-Za-z0-9_-]{43}$/, '32 bytes as base64url');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(printed.length, 1);
    assert.ok(printed[0]!.includes(key) && printed[0]!.includes(file));

    const second = await loadApiKey({ configured: '', dataDir, cluster: false, log, print: (l) => printed.push(l) });
    assert.equal(second.mode, 'stored');
    assert.equal(printed.length, 1, 'printed only at first start');
    assert.equal(readFileSync(file, 'utf8').trim(), key, 'the same key afterwards');
    assert.equal((await probe(second, `Bearer ${key}`)).status, 200);
    assert.equal((await probe(second, 'Bearer another-key-0123456789')).status, 401);

    // Another data dir gets another key.
    const other = await loadApiKey({ configured: '', dataDir: tmp(), cluster: false, log, print: () => {} });
    assert.equal(other.mode, 'generated');
    assert.equal((await probe(other, `Bearer ${key}`)).status, 401);
  });

  it('two gateways starting at once on one data dir end with one key', async () => {
    const dataDir = tmp();
    const printed: string[] = [];
    const [a, b] = await Promise.all([0, 1].map(() => loadApiKey({ configured: '', dataDir, cluster: false, log, print: (l) => printed.push(l) })));
    assert.deepEqual([a!.mode, b!.mode].sort(), ['generated', 'stored']);
    assert.equal(printed.length, 1);
    const key = readFileSync(join(dataDir, API_KEY_FILE), 'utf8').trim();
    assert.equal((await probe(a!, `Bearer ${key}`)).status, 200);
    assert.equal((await probe(b!, `Bearer ${key}`)).status, 200);
  });

  it('STARWEATHER_API_KEY wins and writes no file', async () => {
    const dataDir = tmp();
    const auth = await loadApiKey({ configured: 'configured-key-0123456789', dataDir, cluster: true, log, print: () => assert.fail('nothing printed') });
    assert.equal(auth.mode, 'configured');
    assert.throws(() => statSync(join(dataDir, API_KEY_FILE)), /ENOENT/);
    assert.equal((await probe(auth, 'Bearer configured-key-0123456789')).status, 200);
    assert.equal((await probe(auth, 'bearer configured-key-0123456789')).status, 200, 'the scheme name is case-insensitive (RFC 7235)');
  });

  it('cluster mode without a key: writes answer 503 "writes disabled", with or without credentials', async () => {
    const dataDir = tmp();
    const auth = await loadApiKey({ configured: '', dataDir, cluster: true, log });
    assert.equal(auth.mode, 'disabled');
    assert.throws(() => statSync(join(dataDir, API_KEY_FILE)), /ENOENT/, 'no per-node key in a cluster');
    for (const h of [undefined, 'Bearer anything-at-all-0123']) {
      const r = await probe(auth, h);
      assert.equal(r.status, 503);
      assert.equal(r.code, 'SW_ERR_WRITES_DISABLED');
    }
  });

  it('a key file readable by others is tightened to 0600; an empty one disables writes instead of opening them', async () => {
    const dataDir = tmp();
    const file = join(dataDir, API_KEY_FILE);
    writeFileSync(file, 'a-stored-key-0123456789\n');
    chmodSync(file, 0o644);
    const auth = await loadApiKey({ configured: '', dataDir, cluster: false, log });
    assert.equal(auth.mode, 'stored');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal((await probe(auth, 'Bearer a-stored-key-0123456789')).status, 200);

    writeFileSync(file, '\n');
    const empty = await loadApiKey({ configured: '', dataDir, cluster: false, log });
    assert.equal(empty.mode, 'disabled');
    assert.equal((await probe(empty, 'Bearer ')).status, 503);
    assert.equal((await probe(empty)).status, 503);
  });

  it('config: a short key is refused; the key and the ws token are masked in describeConfig', () => {
    assert.throws(() => loadConfig({ env: { STARWEATHER_API_KEY: 'short' } }), /STARWEATHER_API_KEY.*16 characters/);
    const cfg = loadConfig({ env: { STARWEATHER_API_KEY: 'a-long-enough-key-0123456789', STARWEATHER_WS_TOKEN: 'ws-token-secret' } });
    assert.equal(cfg.gateway.apiKey, 'a-long-enough-key-0123456789');
    const shown = describeConfig(cfg);
    assert.equal(shown['gateway.apiKey'], '***');
    assert.equal(shown['gateway.wsToken'], '***');
    assert.ok(!JSON.stringify(shown).includes('a-long-enough-key'));
  });

  it('the embedded gateway role generates <dataDir>/api-key at start', async () => {
    const h = await startGatewayHarness({ count: 1 });
    try {
      const file = join(h.cfg.dataDir, API_KEY_FILE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(readFileSync(file, 'utf8').trim(), /^[A-Za-z0-9_-]{43}$/);
    } finally {
      await h.close();
    }
  });
});
