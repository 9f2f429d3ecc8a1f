import { KEYS } from './schema.js';

/** The README's configuration table, rendered from the KEYS table. */
export function renderConfigTable(): string {
  const rows = ['| environment variable | config file key | default | meaning |', '| --- | --- | --- | --- |'];
  for (const k of KEYS) {
    const def = Array.isArray(k.default) ? k.default.join(',') : k.default === '' ? '(empty)' : String(k.default);
    rows.push(`| \`${k.env}\` | \`${k.key}\` | \`${def}\` | ${k.description} |`);
  }
  return rows.join('\n');
}
