/**
 * Install anywhere (issue 16, part 3): a machine with no C++ toolchain, or an
 * install without devDependencies (no node-gyp), still installs and runs,
 * on the TypeScript kernels.
 *
 * - native/build.mjs with the compiler hidden (CXX=false) or with no
 *   node-gyp to find exits 0 with one line saying why and what runs, and
 *   leaves an existing build alone;
 * - with the addon hidden (config tile.nativeAddon naming a missing file) a
 *   tile host runs the TypeScript kernels on worker threads, and they give
 *   satpy's calibration vector; `native` mode refuses to start instead;
 * - a node started so says it once in its log and `/health` reports
 *   `kernels: typescript` with the reason.
 *
 * The kernels' own tests run with the addon hidden in .ci/run's install
 * check (after an `npm ci --omit=dev` with CXX=false in a copy of the tree).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelsInUse } from '../../actors/tile/kernels/index.js';
import { ADDON_PATH } from '../../actors/tile/kernels/native.js';
import { loadTileKernels } from '../../actors/tile/pipeline/kernel-binding.js';
import { StarWeatherError } from '../../protocol/errors.js';
import { freePort } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/processes.js';
import { cliHarness } from '../helpers/cli-harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BUILD = join(ROOT, 'native', 'build.mjs');
const MISSING = join(tmpdir(), 'sw-no-such-dir', 'starweather_kernels.node');
const harness = cliHarness('sw-install-');

/** Runs build.mjs as npm's install script would, without npm's own node-gyp unless given. */
function runBuild(script: string, env: Record<string, string | undefined>): { status: number | null; stdout: string; stderr: string } {
  const e: Record<string, string | undefined> = { ...process.env, npm_config_node_gyp: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const r = spawnSync(process.execPath, [script], { cwd: dirname(dirname(script)), env: e as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function nativeLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('native:'));
}

test('native/build.mjs with the compiler hidden (CXX=false): exit 0, one line, an existing build left as it was', () => {
  const before = existsSync(ADDON_PATH) ? statSync(ADDON_PATH).mtimeMs : null;
  const r = runBuild(BUILD, { CXX: 'false' });
  assert.equal(r.status, 0, r.stderr);
  const lines = nativeLines(r.stderr + r.stdout);
  assert.equal(lines.length, 1, r.stderr + r.stdout);
  assert.match(lines[0]!, /^native: kernels not built: no C\+\+ compiler \(CXX=false does not run\); /);
  assert.match(lines[0]!, before === null ? /tile hosts will run the TypeScript kernels/ : /the addon from an earlier build .* stays in use/);
  // node-gyp never ran: nothing else printed, the build output untouched.
  assert.equal((r.stderr + r.stdout).trim(), lines[0]);
  assert.equal(existsSync(ADDON_PATH) ? statSync(ADDON_PATH).mtimeMs : null, before);
});

test('native/build.mjs where node-gyp is not installed (npm ci --omit=dev, no npm to name its own): exit 0, one line, TypeScript kernels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-nogyp-'));
  try {
    mkdirSync(join(dir, 'native'));
    const script = join(dir, 'native', 'build.mjs');
    copyFileSync(BUILD, script);
    copyFileSync(join(ROOT, 'native', 'binding.gyp'), join(dir, 'native', 'binding.gyp'));
    const r = runBuild(script, {});
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(nativeLines(r.stderr + r.stdout).length, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /^native: kernels not built: node-gyp is not installed .*; tile hosts will run the TypeScript kernels \(same results, slower\)\./);
    assert.equal(existsSync(join(dir, 'native', 'build')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// satpy test_abi_l1b.py (commit 52df5fe0): ABI band 14-like IR coefficients, counts → BT (K); 1002 is the fill value.
const SATPY_CAL = { instrument: 'abi', kind: 'ir', scale: 0.5, offset: -1, fill: 1002, fk1: 13432.1, fk2: 1497.61, bc1: 0.09102, bc2: 0.99971 } as const;
const SATPY_COUNTS = [102, 202, 302, 402, 502, 602, 702, 802, 902, 1002];
const SATPY_BT = [267.55572248, 305.15576503, 332.37383249, 354.73895301, 374.19710115, 391.68679226, 407.74064808, 422.69329105, 436.77021913, NaN];

test('addon hidden: auto runs the TypeScript kernels on threads (satpy\'s vector), native refuses, kernelsInUse says the same', async () => {
  const { kernels, note } = await loadTileKernels('auto', MISSING);
  assert.equal(kernels.name, 'ts');
  assert.match(note ?? '', /native tile kernels unavailable \(native kernels are not built \(.*sw-no-such-dir.* missing\)/);
  const r = await kernels.calibrate(Uint16Array.from(SATPY_COUNTS), null, SATPY_CAL);
  for (let i = 0; i < SATPY_BT.length; i++) {
    const e = SATPY_BT[i]!, a = r.values[i]!;
    assert.ok(Number.isNaN(e) ? Number.isNaN(a) : Math.abs(a - e) <= 1e-4, `count ${SATPY_COUNTS[i]}: ${a} K vs satpy ${e} K`);
  }
  await assert.rejects(loadTileKernels('native', MISSING), (e: unknown) => e instanceof StarWeatherError && e.code === 'SW_ERR_CONFIG');
  assert.deepEqual(kernelsInUse('ts', MISSING), { mode: 'ts', running: 'typescript' });
  const auto = kernelsInUse('auto', MISSING);
  assert.equal(auto.running, 'typescript');
  assert.match(auto.reason ?? '', /sw-no-such-dir/);
  assert.equal(kernelsInUse('native', MISSING).running, 'none');
});

test('a node whose addon is hidden logs the fallback once and /health says kernels: typescript, with the reason', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const s = harness.run(['start', '--roles', 'tile'], harness.env({ STARWEATHER_NODE_PORT: String(port), STARWEATHER_TILE_NATIVE_ADDON: MISSING }));
  let body: { kernels?: { mode: string; running: string; reason?: string }; hosts?: Array<{ role: string; state: string }> } | null = null;
  const up = await waitFor(async () => {
    if (s.proc.exitCode !== null) return true;
    try {
      body = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as typeof body;
      return body?.hosts?.some((h) => h.role === 'tile' && h.state === 'running') === true;
    } catch {
      return false;
    }
  }, 30_000, 100);
  assert.ok(up && s.proc.exitCode === null, `no running tile host: ${s.stderr()}\n${JSON.stringify(body)}`);
  const b = body as unknown as { kernels: { mode: string; running: string; reason?: string } };
  assert.equal(b.kernels.mode, 'auto');
  assert.equal(b.kernels.running, 'typescript');
  assert.match(b.kernels.reason ?? '', /sw-no-such-dir.*missing/);
  // The tile host has logged its choice by the time it reports running.
  const said = s.lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('native tile kernels unavailable'));
  assert.equal(said.length, 1, s.stdout());
  assert.equal(said[0]!.level, 40, 'a warning');
  s.proc.kill('SIGTERM');
  assert.equal((await s.exited).code, 0, s.stderr());
});
