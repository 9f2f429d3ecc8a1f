/**
 * Runtime dependencies are only what runs (issue 16, part 3), checked on the
 * compiled code an `npm ci --omit=dev` install runs: every package that
 * dist/ (less the tests, the benches and the prebuilt dashboard bundle)
 * imports, statically or dynamically (esbuild's parser: its metafile lists
 * each bare import as external) or through require(), must be a
 * declared `dependency`, and a production package in the lock; every
 * declared dependency must be imported by that code (or be listed below
 * with the reason it is needed without an import). The dashboard's packages
 * (d3-geo, topojson-client, world-atlas) are bundled into dist/ui at build
 * time, with esbuild and tsc, which are devDependencies too.
 *
 * It also checks the install is quiet: every package with an install script
 * is decided in package.json `allowScripts` (npm lists undecided ones on
 * every install), and there is no project .npmrc key npm does not know.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOT = join(DIST, '..');
/** What `node dist/supervisor/cli.js` and its hosts can load. */
const RUNTIME_DIRS = ['actors', 'supervisor', 'protocol', 'config'];
/** Dependencies needed without an import, and why. */
const NOT_IMPORTED: Record<string, string> = {
  'node-addon-api': 'C++ headers for the native addon, built by the install script (native/binding.gyp), also in an --omit=dev install',
};

interface Pkg {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
interface Lock {
  packages: Record<string, { dev?: boolean; hasInstallScript?: boolean; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Pkg;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;

function jsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...jsFiles(full));
    else if (name.endsWith('.js')) out.push(full);
  }
  return out;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Bare imports of the runtime code: package → one file that imports it. */
async function runtimeImports(): Promise<Map<string, string>> {
  const entryPoints = RUNTIME_DIRS.flatMap((d) => jsFiles(join(DIST, d)));
  assert.ok(entryPoints.length > 100, `compiled runtime code found (${entryPoints.length} files): run the build first`);
  const r = await build({ entryPoints, bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', outdir: join(DIST, '.deps-check'), packages: 'external', logLevel: 'silent' });
  const out = new Map<string, string>();
  for (const [file, input] of Object.entries(r.metafile.inputs)) {
    for (const imp of input.imports) {
      if (!imp.external || builtins.has(imp.path) || imp.path.startsWith('.') || imp.path.startsWith('/')) continue;
      if (!out.has(packageOf(imp.path))) out.set(packageOf(imp.path), file);
    }
  }
  // require() through createRequire(import.meta.url) (compressjs, a CommonJS package) is a call of a local
  // function to esbuild, not an import: found by its literal argument.
  for (const file of entryPoints) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] as string;
      if (builtins.has(spec) || spec.startsWith('.') || spec.startsWith('/')) continue;
      if (!out.has(packageOf(spec))) out.set(packageOf(spec), file);
    }
  }
  return out;
}

test('every package the runtime code imports is a declared dependency, a production package in the lock', async () => {
  const used = await runtimeImports();
  // The code this test reads does use packages: a parser that found none would pass anything.
  for (const p of ['fastify', 'pino', 'satellite.js', 'onnxruntime-node', 'compressjs']) assert.ok(used.has(p), `${p} found among the runtime imports`);
  for (const [name, file] of used) {
    assert.ok(name in pkg.dependencies, `${file} imports ${name}, which is not in package.json dependencies${name in pkg.devDependencies ? ' (it is a devDependency: --omit=dev leaves it out)' : ''}`);
    const entry = lock.packages[`node_modules/${name}`];
    assert.ok(entry, `${name} is in package-lock.json`);
    assert.notEqual(entry.dev, true, `${name} is a production package in package-lock.json`);
  }
});

test('every declared dependency is imported by the runtime code (the rest are devDependencies), and the lock agrees with package.json', async () => {
  const used = await runtimeImports();
  for (const name of Object.keys(pkg.dependencies)) {
    assert.ok(used.has(name) || name in NOT_IMPORTED, `${name} is a dependency that no runtime code imports: a devDependency, or a reason in NOT_IMPORTED`);
  }
  for (const name of Object.keys(NOT_IMPORTED)) assert.ok(name in pkg.dependencies, `${name} (NOT_IMPORTED) is a dependency`);
  for (const name of ['autocannon', 'd3-geo', 'topojson-client', 'world-atlas', 'esbuild', 'typescript', 'node-gyp']) assert.ok(name in pkg.devDependencies, `${name} is a devDependency`);
  const root = lock.packages[''];
  assert.deepEqual(root?.dependencies, pkg.dependencies, 'package-lock.json root dependencies');
  assert.deepEqual(root?.devDependencies, pkg.devDependencies, 'package-lock.json root devDependencies');
});

test('the install is quiet: every install script in the lock is decided in allowScripts, and there is no project .npmrc key npm does not know', () => {
  const withScripts = Object.entries(lock.packages)
    .filter(([path, e]) => path !== '' && e.hasInstallScript === true)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  assert.ok(withScripts.includes('onnxruntime-node'));
  for (const name of withScripts) assert.equal(typeof pkg.allowScripts?.[name], 'boolean', `${name} has an install script: allowed or denied in package.json allowScripts`);
  // Its postinstall downloads CUDA providers from NuGet (no GPU use here; offline it fails the install).
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  // npm warns "Unknown project config" on every command for a key it does not know (onnxruntime-node-install was one).
  if (existsSync(join(ROOT, '.npmrc'))) assert.doesNotMatch(readFileSync(join(ROOT, '.npmrc'), 'utf8'), /onnxruntime/);
});
