// Builds the native kernels (binding.gyp) with node-gyp, offline: the Node
// headers come from the running Node's own install prefix (distro and
// official builds ship include/node/), so node-gyp never downloads them.
// Configures once, then builds incrementally; `--rebuild` forces both.
//
// The addon is optional: the tile hosts run the TypeScript reference kernels
// without it (actors/tile/kernels/index.ts, same results, slower). So this
// script never fails an install or a build for want of a toolchain: when
// node-gyp, python3, make or a C++ compiler is missing, or node-gyp fails,
// it prints ONE line saying so (after node-gyp's own output, if it ran) and
// exits 0. It runs from the root `install` script, where `npm ci
// --omit=dev` leaves out the project's node-gyp; npm's own bundled copy
// (npm_config_node_gyp, set by npm for lifecycle scripts) is used then.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const addon = join(here, 'build', 'Release', 'starweather_kernels.node');
const require = createRequire(import.meta.url);

/** Ends the script with the one fallback line; exit 0: an install without the addon works. */
function fallBack(why) {
  const now = existsSync(addon)
    ? `the addon from an earlier build (${relative(process.cwd(), addon) || addon}) stays in use`
    : 'tile hosts will run the TypeScript kernels (same results, slower)';
  console.error(`native: kernels not built: ${why}; ${now}. For the native kernels install python3, make and a C++17 compiler, then run \`npm run build:native\``);
  process.exit(0);
}

function resolveOr(id) {
  try {
    return require.resolve(id);
  } catch {
    return null;
  }
}

/** Whether `cmd --version` runs (a compiler named by CXX=false, or absent, does not). */
function runs(cmd) {
  const [exe, ...pre] = cmd.trim().split(/\s+/);
  if (!exe) return false;
  const r = spawnSync(exe, [...pre, '--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

const gyp = resolveOr('node-gyp/bin/node-gyp.js') ?? (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp) ? process.env.npm_config_node_gyp : null);
if (gyp === null) fallBack('node-gyp is not installed (a devDependency, left out by --omit=dev) and npm did not name its own');
if (resolveOr('node-addon-api') === null) fallBack('node-addon-api is not installed');
// The same defaults node-gyp and its make files use.
const python = process.env.npm_config_python || process.env.PYTHON || 'python3';
if (!runs(python)) fallBack(`no Python (${python} does not run)`);
if (!runs(process.env.MAKE || 'make')) fallBack(`no make (${process.env.MAKE || 'make'} does not run)`);
const cxx = process.env.CXX || 'g++';
if (!runs(cxx)) fallBack(`no C++ compiler (${process.env.CXX ? `CXX=${process.env.CXX}` : cxx} does not run)`);

// The headers of the Node that runs this script (a CI that installs another
// Node than the distribution's must compile against that one). node-gyp
// takes an npm `nodedir` setting (npm_config_nodedir, e.g. `nodedir=/usr` in
// a user's .npmrc) over --nodedir, so both are set.
const prefix = dirname(dirname(process.execPath));
const args = [];
const env = { ...process.env };
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
  env.npm_config_nodedir = prefix;
}

function run(cmd) {
  const r = spawnSync(process.execPath, [gyp, cmd, ...args], { cwd: here, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) fallBack(`node-gyp ${cmd} failed (exit ${r.status ?? r.signal}; its output is above)`);
}

const rebuild = process.argv.includes('--rebuild') || !existsSync(join(here, 'build', 'Makefile')) && !existsSync(join(here, 'build', 'config.gypi'));
if (rebuild) run('configure');
run('build');
