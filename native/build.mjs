// Builds the native kernels (binding.gyp) with node-gyp, offline: the Node
// headers come from the running Node's own install prefix (distro and
// official builds ship include/node/), so node-gyp never downloads them.
// Configures once, then builds incrementally; `--rebuild` forces both.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const prefix = dirname(dirname(process.execPath));
const args = [];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

function run(cmd) {
  const r = spawnSync(process.execPath, [gyp, cmd, ...args], { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`native: node-gyp ${cmd} failed (exit ${r.status}); see the output above`);
    process.exit(r.status ?? 1);
  }
}

const rebuild = process.argv.includes('--rebuild') || !existsSync(join(here, 'build', 'Makefile')) && !existsSync(join(here, 'build', 'config.gypi'));
if (rebuild) run('configure');
run('build');
