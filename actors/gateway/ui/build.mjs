/**
 * Builds the dashboard (npm run build:ui, after the type check
 * `tsc -p actors/gateway/ui`): esbuild bundles src/main.ts with its imports
 * (d3-geo, topojson-client, the world-atlas topojson, the protocol's frame
 * decoder) and its CSS into dist/ui with content-hashed names, then writes
 * index.html naming those files. Hashed names let the gateway serve them as
 * immutable (actors/gateway/ui-routes.ts); index.html is revalidated.
 * Plain JavaScript, run by node directly: it runs before nothing else is built.
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const out = join(root, 'dist', 'ui');
const entry = join(here, 'src', 'main.ts');

// Old hashed files would pile up otherwise.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: 'linked',
  entryNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  // The QA flag rule (actors/tracker/qa.ts) shares a module graph with satellite.js, whose optional WASM
  // build names Node built-ins in dynamic imports; tree-shaking drops that code, these names only need resolving.
  external: ['node:*'],
});

const entryRel = relative(root, entry).split('\\').join('/');
const [jsPath, meta] = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === entryRel) ?? [];
if (!jsPath || !meta?.cssBundle) throw new Error(`esbuild produced no JS bundle with CSS for ${entryRel}`);
const html = readFileSync(join(here, 'index.html'), 'utf8')
  .replace('{{js}}', basename(jsPath))
  .replace('{{css}}', basename(meta.cssBundle));
writeFileSync(join(out, 'index.html'), html);
const size = (p) => `${(result.metafile.outputs[p].bytes / 1024).toFixed(0)} KiB`;
console.log(`dashboard: dist/ui/${basename(jsPath)} (${size(jsPath)}), ${basename(meta.cssBundle)} (${size(meta.cssBundle)}), index.html`);
