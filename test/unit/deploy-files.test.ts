/**
 * The production Docker files (issue 16 part 5), as far as a machine
 * without a Docker engine can check them: the image is multi-stage, runs as
 * a non-root user with a HEALTHCHECK and EXPOSE, and copies every data file
 * the code reads from the source tree at run time (found here by scanning
 * the sources, not from a list); compose carries no password and gives each
 * service its secret from ./secrets/; make-secrets.sh writes them once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'ui' || e.name === 'synthetic' || e.name === 'model' ? [] : sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('Dockerfile: a build and a runtime stage; the runtime runs as node with a health check and exposed ports, and copies every runtime data path', () => {
  const text = read('Dockerfile');
  const stages = text.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2, 'two stages');
  assert.match(stages[0]!, /AS build/);
  const runtime = stages[1]!;
  assert.match(runtime, /AS runtime/);
  assert.match(runtime, /^USER node$/m);
  assert.match(runtime, /^HEALTHCHECK /m);
  assert.match(runtime, /^EXPOSE 8080 9464$/m);
  assert.doesNotMatch(runtime, /npm (ci|install)|apt-get|build-essential/, 'no install or toolchain in the runtime stage');
  const copied = [...runtime.matchAll(/^COPY --from=build \/src\/(\S+) /gm)].map((m) => m[1]!);
  // Every path the code resolves against the source tree at run time (new URL('…/actors/…', import.meta.url)), up to a ${…} in a template.
  const wanted = new Set<string>();
  for (const f of [...sources('actors'), ...sources('supervisor')]) {
    for (const m of read(f).matchAll(/new URL\(['`](?:\.\.\/)+((?:actors|native|protocol)\/[^'`$]+)/g)) wanted.add(m[1]!.replace(/\/$/, ''));
  }
  assert.ok(wanted.size >= 4, `found the runtime data paths: ${[...wanted].join(', ')}`);
  for (const w of wanted) {
    assert.ok(copied.some((c) => w === c || w.startsWith(c + '/') || (c.endsWith('/') && w.startsWith(c))), `${w} is read at run time but not copied into the image`);
  }
  for (const c of copied.filter((c) => c.startsWith('actors/'))) assert.ok(existsSync(join(ROOT, c)), `${c} exists`);
});

test('docker-compose.yml: no password in the file; secrets from ./secrets/, passed as *_FILE; NATS with authentication', () => {
  const text = read('docker-compose.yml');
  assert.doesNotMatch(text, /^\s*[A-Z_]*(PASSWORD|API_KEY|TOKEN):\s*\S/m, 'no secret value in the environment');
  assert.doesNotMatch(text, /:\/\/[^/\s:@]+:[^@\s]+@/, 'no password in a URL');
  for (const name of ['api_key', 'db_password', 'redis_password', 'nats_password']) {
    assert.match(text, new RegExp(`^  ${name}: \\{ file: \\./secrets/${name} \\}$`, 'm'), `secret ${name}`);
  }
  for (const env of ['NATS_PASSWORD_FILE', 'DATABASE_PASSWORD_FILE', 'REDIS_PASSWORD_FILE', 'STARWEATHER_API_KEY_FILE', 'POSTGRES_PASSWORD_FILE']) {
    assert.match(text, new RegExp(`${env}: /run/secrets/`), env);
  }
  assert.match(text, /--requirepass/);
  for (const i of [1, 2, 3]) {
    assert.match(read(`config/nats/nats-${i}.conf`), /^include "auth\.conf"$/m, `nats-${i} requires authentication`);
    assert.match(text, new RegExp(`\\./secrets/nats_auth\\.conf:/etc/nats/auth\\.conf:ro`));
  }
  assert.match(read('.gitignore'), /^\/secrets\/$/m, 'secrets never committed');
  assert.match(read('.dockerignore'), /^secrets$/m, 'nor sent to the image build');
});

test('make-secrets.sh: creates the five secrets once, in a 0700 folder; a second run keeps them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-secrets-'));
  try {
    mkdirSync(join(dir, 'config', 'docker'), { recursive: true });
    cpSync(join(ROOT, 'config/docker/make-secrets.sh'), join(dir, 'config/docker/make-secrets.sh'));
    execFileSync('sh', [join(dir, 'config/docker/make-secrets.sh')], { stdio: 'ignore' });
    const s = join(dir, 'secrets');
    assert.equal(statSync(s).mode & 0o777, 0o700);
    const files = readdirSync(s).sort();
    assert.deepEqual(files, ['api_key', 'db_password', 'nats_auth.conf', 'nats_password', 'redis_password']);
    const before = Object.fromEntries(files.map((f) => [f, readFileSync(join(s, f), 'utf8')]));
    assert.match(before.api_key!, /^[0-9a-f]{64}\n$/);
    assert.notEqual(before.db_password, before.redis_password, 'each secret its own');
    assert.ok(before['nats_auth.conf']!.includes(`password: "${before.nats_password!.trim()}"`), 'the servers and the nodes share the NATS password');
    execFileSync('sh', [join(dir, 'config/docker/make-secrets.sh')], { stdio: 'ignore' });
    for (const f of files) assert.equal(readFileSync(join(s, f), 'utf8'), before[f], `${relative(dir, join(s, f))} kept`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
