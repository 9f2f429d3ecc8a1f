/**
 * Credentials for the services a production node talks to (issue 16 part
 * 5), against real servers started here: NATS with a password, with an
 * NKey user, and with TLS (a CA made here with openssl); Redis with a
 * password. Secrets may come from <ENV>_FILE (Docker secrets), never show
 * in describeConfig. (Data directories created 0700: storage-open.test.ts.)
 *
 * Each "refused" case is the control: the server really demands what the
 * "accepted" case supplies.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { describeConfig, loadConfig } from '../../config/load.js';
import { createTransport } from '../../actors/runtime/transport/index.js';
import { RedisCache } from '../../actors/storage/redis-cache.js';
import { freePort, startNatsServer, type NatsServer } from '../helpers/nats-server.js';

const dir = mkdtempSync(join(tmpdir(), 'sw-auth-'));
const servers: NatsServer[] = [];
const procs: ChildProcess[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const cfgFor = (env: Record<string, string>) => loadConfig({ env: { STARWEATHER_DATA_DIR: dir, STARWEATHER_NAMESPACE: 'authtest', ...env } });

/** Connects, provisions JetStream (a real round trip under the account) and closes. */
async function connects(env: Record<string, string>): Promise<true | string> {
  try {
    const t = await createTransport(cfgFor(env), { name: 'auth test' });
    await t.close();
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('NATS credentials and TLS', { timeout: 60_000 }, () => {
  test('user and password: accepted with them (also from NATS_PASSWORD_FILE), refused without or with a wrong one', async () => {
    const s = await startNatsServer({ extraConfig: 'authorization { user: "sw", password: "s3cret-pass" }' });
    servers.push(s);
    assert.equal(await connects({ NATS_URL: s.url, NATS_USER: 'sw', NATS_PASSWORD: 's3cret-pass' }), true);
    const file = join(dir, 'nats-pass');
    writeFileSync(file, 's3cret-pass\n', { mode: 0o600 });
    assert.equal(await connects({ NATS_URL: s.url, NATS_USER: 'sw', NATS_PASSWORD_FILE: file }), true);
    assert.match(String(await connects({ NATS_URL: s.url })), /SW_ERR_TRANSPORT|cannot connect|authoriz/i);
    assert.match(String(await connects({ NATS_URL: s.url, NATS_USER: 'sw', NATS_PASSWORD: 'wrong' })), /authoriz/i);
  });

  test('NKey: a user seed file is accepted; another seed is refused', async () => {
    const user = nkeys.createUser();
    const other = nkeys.createUser();
    const s = await startNatsServer({ extraConfig: `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }` });
    servers.push(s);
    const seed = join(dir, 'user.nk');
    writeFileSync(seed, new TextDecoder().decode(user.getSeed()), { mode: 0o600 });
    const otherSeed = join(dir, 'other.nk');
    writeFileSync(otherSeed, new TextDecoder().decode(other.getSeed()), { mode: 0o600 });
    assert.equal(await connects({ NATS_URL: s.url, NATS_NKEY_SEED_FILE: seed }), true);
    assert.match(String(await connects({ NATS_URL: s.url, NATS_NKEY_SEED_FILE: otherSeed })), /authoriz/i);
  });

  test('TLS: the server is verified against NATS_TLS_CA; without the CA the connection is refused', async () => {
    const tls = join(dir, 'tls');
    mkdirSync(tls);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    writeFileSync(join(tls, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'server.pem');
    const s = await startNatsServer({ extraConfig: `tls { cert_file: "${join(tls, 'server.pem')}", key_file: "${join(tls, 'server.key')}" }` });
    servers.push(s);
    assert.equal(await connects({ NATS_URL: s.url, NATS_TLS_CA: join(tls, 'ca.pem') }), true);
    assert.match(String(await connects({ NATS_URL: `tls://127.0.0.1:${s.port}` })), /certificate|self.signed|verify/i);
  });

  test('config: one way to authenticate, user with password, cert with key; _FILE or the variable, not both; secrets masked', () => {
    assert.throws(() => cfgFor({ NATS_USER: 'a', NATS_PASSWORD: 'b', NATS_TOKEN: 'c' }), /one way to authenticate/);
    assert.throws(() => cfgFor({ NATS_USER: 'a' }), /go together/);
    assert.throws(() => cfgFor({ NATS_TLS_CERT: '/x.pem' }), /needs its key/);
    const file = join(dir, 'key');
    writeFileSync(file, 'k'.repeat(32));
    assert.throws(() => cfgFor({ STARWEATHER_API_KEY: 'x'.repeat(32), STARWEATHER_API_KEY_FILE: file }), /not both/);
    assert.throws(() => cfgFor({ REDIS_PASSWORD_FILE: join(dir, 'missing') }), /cannot read/);
    const cfg = cfgFor({ STARWEATHER_API_KEY_FILE: file, NATS_USER: 'a', NATS_PASSWORD: 'pw', REDIS_PASSWORD: 'rp', DATABASE_PASSWORD: 'dp' });
    assert.equal(cfg.gateway.apiKey, 'k'.repeat(32));
    const shown = JSON.stringify(describeConfig(cfg));
    for (const secret of ['k'.repeat(32), '"pw"', '"rp"', '"dp"']) assert.ok(!shown.includes(secret), `${secret} masked`);
  });
});

describe('Redis with a password', { timeout: 30_000 }, () => {
  test('REDIS_PASSWORD is sent as AUTH; without it the cache never becomes ready', async () => {
    const port = await freePort();
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 'r3dis-pass'], { stdio: 'ignore' });
    procs.push(p);
    const url = `redis://127.0.0.1:${port}`;
    const cfg = cfgFor({ REDIS_URL: url, REDIS_PASSWORD: 'r3dis-pass' });
    let ok: RedisCache | null = null;
    for (let i = 0; i < 50 && !ok; i++) {
      const c = new RedisCache({ url: cfg.redis.url, password: cfg.redis.password, prefix: 'authtest' });
      if (await c.waitReady(500)) ok = c;
      else await c.close();
    }
    assert.ok(ok, 'ready with the password');
    await ok.close();
    const errors: unknown[] = [];
    const without = new RedisCache({ url, prefix: 'authtest', onError: (e) => errors.push(e) });
    assert.equal(await without.waitReady(1500), false, 'not ready without the password');
    assert.ok(errors.some((e) => /NOAUTH|auth/i.test(String(e))), `the refusal names authentication: ${errors.map(String).join('; ')}`);
    await without.close();
  });
});
