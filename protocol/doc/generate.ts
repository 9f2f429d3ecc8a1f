import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderProtocolDoc } from './render.js';

// dist/protocol/doc/generate.js → <repo>/protocol/PROTOCOL.md
const target = fileURLToPath(new URL('../../../protocol/PROTOCOL.md', import.meta.url));
writeFileSync(target, renderProtocolDoc());
console.log(`wrote ${target}`);
