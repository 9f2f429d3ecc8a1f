import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigTable } from './doc.js';

export const START = '<!-- config-table:start -->';
export const END = '<!-- config-table:end -->';

const readme = fileURLToPath(new URL('../../README.md', import.meta.url));
const text = readFileSync(readme, 'utf8');
const a = text.indexOf(START);
const b = text.indexOf(END);
if (a < 0 || b < a) throw new Error(`README.md lacks the ${START} … ${END} markers`);
writeFileSync(readme, text.slice(0, a + START.length) + '\n' + renderConfigTable() + '\n' + text.slice(b));
console.log(`updated ${readme}`);
