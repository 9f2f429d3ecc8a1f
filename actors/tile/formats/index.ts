/**
 * One entry point for scene files: sniff what the bytes are (HDF5 signature
 * → GOES ABI L1b netCDF4; bzip2 'BZh' or an HSD block 1 → Himawari AHI
 * segments) and read them. Every failure is an ImageryFormatError
 * (SW_ERR_DECODE) whose message says what is wrong — wrong format,
 * corrupt, truncated, or segments that do not belong together — and names
 * the file.
 */
import { ImageryFormatError } from '../../ingest/imagery-header.js';
import { errorMessage } from '../../../protocol/errors.js';
import type { SceneBand } from '../types.js';
import { isHdf5, readAbiSceneBytes } from './abi.js';
import { isBzip2, isHsd, readAhiScene } from './ahi.js';

export { ImageryFormatError } from '../../ingest/imagery-header.js';
export { readAbiScene, readAbiSceneBytes } from './abi.js';
export { readAhiScene } from './ahi.js';
export { pixelLonLat, rowLonLat, ahiSceneGeo } from './geo.js';

export interface SceneFile {
  name: string;
  bytes: Uint8Array;
}

export type SceneFormat = 'abi-l1b' | 'ahi-hsd';

/** What a file's first bytes say it is, or null. */
export function sniffFormat(bytes: Uint8Array): SceneFormat | null {
  if (isHdf5(bytes)) return 'abi-l1b';
  if (isBzip2(bytes) || isHsd(bytes)) return 'ahi-hsd';
  return null;
}

function describe(bytes: Uint8Array): string {
  if (bytes.byteLength === 0) return 'it is empty';
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `it starts with ${head}`;
}

/** Read one band of one scene: a single ABI file, or one or more AHI segments. */
export async function readScene(files: ReadonlyArray<SceneFile>): Promise<SceneBand> {
  if (files.length === 0) throw new ImageryFormatError('no scene files given');
  const kinds = files.map((f) => {
    const k = sniffFormat(f.bytes);
    if (!k) throw new ImageryFormatError(`${f.name}: wrong format: neither a GOES ABI L1b netCDF4/HDF5 file nor a Himawari HSD segment (${describe(f.bytes)})`);
    return k;
  });
  if (kinds.some((k) => k !== kinds[0])) throw new ImageryFormatError(`mixed formats in one scene: ${files.map((f, i) => `${f.name} (${kinds[i]})`).join(', ')}`);
  if (kinds[0] === 'abi-l1b') {
    if (files.length !== 1) throw new ImageryFormatError(`an ABI L1b scene is one file, got ${files.length}`);
    const f = files[0]!;
    try {
      return await readAbiSceneBytes(f.bytes);
    } catch (err) {
      if (err instanceof ImageryFormatError) throw new ImageryFormatError(`${f.name}: ${err.message}`, { cause: err });
      throw new ImageryFormatError(`${f.name}: ${errorMessage(err)}`, { cause: err });
    }
  }
  try {
    return readAhiScene(files);
  } catch (err) {
    if (err instanceof ImageryFormatError) throw err;
    throw new ImageryFormatError(`HSD segments: ${errorMessage(err)}`, { cause: err });
  }
}
