/**
 * What a person sees: `starweather start` on a pseudo-terminal (util-linux
 * `script` gives it one) prints readable log lines and, once the gateway
 * listens, a banner with the dashboard, API and health URLs and where the
 * write key is, the generated key itself above it; with stdout piped, every
 * log line is one JSON object, no line repeats a key, and there is no banner.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, spawnNode, waitFor } from '../helpers/processes.js';
import { CLI } from '../helpers/cli-harness.js';

const dirs: string[] = [];
const pids = new Set<number>();
after(() => {
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

function env(port: number): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-tty-'));
  dirs.push(dir);
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(NATS_URL|DATABASE_URL|REDIS_URL|STARWEATHER_)/.test(k)) e[k] = v;
  return { ...e, STARWEATHER_HOST: '127.0.0.1', STARWEATHER_PORT: String(port), STARWEATHER_DATA_DIR: dir, STARWEATHER_LOG_LEVEL: 'info', STARWEATHER_CATALOG_ENABLED: 'false', STARWEATHER_IMAGERY_SOURCES: 'none', TERM: 'dumb' };
}

/** The node's own pid, from /health (hosts on threads report the node process). */
async function nodePid(port: number): Promise<number | null> {
  try {
    const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { hosts: Array<{ pid: number | null }> };
    return h.hosts.find((x) => typeof x.pid === 'number')?.pid ?? null;
  } catch {
    return null;
  }
}

test('on a terminal: readable log lines and a banner naming the dashboard, the API and the write key', { timeout: 90_000, skip: hasScript ? false : 'util-linux `script` is not installed' }, async () => {
  const port = await freePort();
  // -q quiet, -f flush, -e child's exit code; the typescript file is /dev/null.
  const proc = spawn('script', ['-qfec', `"${process.execPath}" "${CLI}" start`, '/dev/null'], { env: env(port), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    const shown = await waitFor(() => /Write key/.test(out) || proc.exitCode !== null, 60_000, 100);
    assert.ok(shown && proc.exitCode === null, `no banner:\n${out.slice(-3000)}`);
    const pid = await nodePid(port);
    if (pid) pids.add(pid);
    // Colours are on for a terminal; the assertions read the text.
    // eslint-disable-next-line no-control-regex
    const text = out.replace(/\r/g, '').replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(text, /StarWeather is running \(embedded/);
    assert.match(text, new RegExp(`Dashboard +http://127\\.0\\.0\\.1:${port}/`));
    assert.match(text, new RegExp(`API +http://127\\.0\\.0\\.1:${port}/api`));
    assert.match(text, new RegExp(`Health +http://127\\.0\\.0\\.1:${port}/health`));
    assert.match(text, /Write key +generated for this data directory, printed once above; stored in .*api-key/);
    // The key itself, once, before the banner.
    const keyAt = text.search(/StarWeather API key for write endpoints \(shown once, stored in .*\): [A-Za-z0-9_-]{20,}/);
    assert.ok(keyAt >= 0 && keyAt < text.indexOf('Write key'), 'the generated key is printed above the banner');
    // Log lines are text ("HH:MM:ss.mmm LEVEL …"), not JSON objects.
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.filter((l) => l.trimStart().startsWith('{"level"')).length, 0, 'no JSON log line on a terminal');
    assert.ok(lines.some((l) => /^\[?\d\d:\d\d:\d\d\.\d{3}\]? (INFO|WARN)/.test(l)), `a readable log line:\n${lines.slice(0, 10).join('\n')}`);
    assert.ok(lines.some((l) => /gateway listening/.test(l)));
  } finally {
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
  }
});

test('piped: JSON log lines with no repeated key, no banner', { timeout: 90_000 }, async () => {
  const port = await freePort();
  const s = spawnNode([CLI, 'start'], env(port));
  try {
    const up = await waitFor(async () => s.proc.exitCode !== null || /gateway listening/.test(s.stdout()), 60_000, 100);
    assert.ok(up && s.proc.exitCode === null, s.stderr());
    await new Promise((r) => setTimeout(r, 500));
    const lines = s.stdout().split('\n').filter((l) => l !== '');
    assert.doesNotMatch(s.stdout(), /Dashboard|Write key/);
    let json = 0;
    for (const l of lines) {
      // The generated key's one line is plain text by design (read once by a person or a script).
      if (l.startsWith('StarWeather API key for write endpoints')) continue;
      const keys = [...l.matchAll(/"([A-Za-z_][\w]*)":/g)].map((m) => m[1]!);
      assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l.slice(0, 200)}`);
      // Top-level duplicates show up as the same key twice in the line (nested objects aside: checked on flat lines).
      const flat = !l.slice(1, -1).includes('{');
      if (flat) assert.equal(new Set(keys).size, keys.length, `a key repeated in: ${l.slice(0, 300)}`);
      json++;
    }
    assert.ok(json > 5, `JSON log lines: ${json}`);
  } finally {
    s.proc.kill('SIGTERM');
    await s.exited;
  }
});
