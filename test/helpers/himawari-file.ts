/**
 * Writes a real, small Himawari AHI HSD segment: header blocks 1–11 laid out
 * byte for byte per ../shared/data/himawari_hsd/hsd_format.md, then the
 * image as little-endian unsigned 16-bit counts; bz2-compressed (compressjs)
 * like the files in the NOAA bucket. The grid is the real full disk's extent
 * sub-sampled (CFAC/LFAC scaled so the columns span the real disk), so
 * navigation and footprints come out as for a real segment. The block layout
 * is the product writer's (actors/tile/synthetic/write-ahi.ts hsdSegmentBytes);
 * this helper only picks the header values and the count ramp.
 */
import { createRequire } from 'node:module';
import { AHI_BAND13, hsdSegmentBytes as writeHsdSegment } from '../../actors/tile/synthetic/write-ahi.js';

const require = createRequire(import.meta.url);
const { Bzip2 } = require('compressjs') as { Bzip2: { compressFile(input: Uint8Array, output?: unknown, level?: number): Uint8Array | number[] } };

export interface HimawariSegmentOptions {
  /** Nominal time (the HHMM slot). */
  time: Date;
  band?: number;
  wavelength?: number;
  segment: number;
  segments?: number;
  /** Columns of the whole (sub-sampled) disk; lines per segment = columns / segments. */
  columns?: number;
  satellite?: 'Himawari-8' | 'Himawari-9';
  subLon?: number;
  /** Real 2 km full disk: 5500 columns, CFAC 20466275. */
  compress?: boolean;
  /** Block 1 observation start/end; default: 20 s after the slot plus 3 s per segment, 33 s long (satpy's test file's offsets). */
  start?: Date;
  end?: Date;
}

const AHI_BAND13_TERMS = {
  c0: AHI_BAND13.c0,
  c1: AHI_BAND13.c1,
  c2: AHI_BAND13.c2,
  lightSpeed: AHI_BAND13.lightSpeed,
  planck: AHI_BAND13.planck,
  boltzmann: AHI_BAND13.boltzmann,
};

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

export function himawariFileName(o: HimawariSegmentOptions): string {
  const t = o.time;
  const sat = (o.satellite ?? 'Himawari-9') === 'Himawari-9' ? 'H09' : 'H08';
  return `HS_${sat}_${t.getUTCFullYear()}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}_${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}_B${pad(o.band ?? 13)}_FLDK_R20_S${pad(o.segment)}${pad(o.segments ?? 10)}.DAT${o.compress === false ? '' : '.bz2'}`;
}

/** The uncompressed HSD bytes of one segment (header blocks laid out by the product writer, hsdSegmentBytes). */
export function hsdSegmentBytes(o: HimawariSegmentOptions): Uint8Array {
  const segments = o.segments ?? 10;
  const columns = o.columns ?? 40;
  const lines = Math.round(columns / segments);
  const band = o.band ?? 13;
  // Real 2 km full disk: 5500 columns, CFAC = LFAC = 20466275, COFF = LOFF = 2750.5.
  const cfac = Math.round((20466275 * columns) / 5500);
  const coff = columns / 2 + 0.5;
  const firstLine = 1 + (o.segment - 1) * lines;
  const start = o.start ?? new Date(o.time.getTime() + 20_000 + (o.segment - 1) * 3_000);
  const end = o.end ?? new Date(start.getTime() + 33_000);
  // Image: a ramp of counts
  const data = new Uint16Array(columns * lines);
  for (let l = 0; l < lines; l++) for (let c = 0; c < columns; c++) data[l * columns + c] = 1000 + ((c * 5 + l * 3) % 3000);
  const common = { gain: -0.0037, offset: 15.2, errorCount: 65535, outsideCount: 65534 };
  return writeHsdSegment(
    {
      satellite: o.satellite ?? 'Himawari-9',
      observationArea: 'FLDK',
      time: o.time,
      start,
      end,
      fileName: himawariFileName({ ...o, compress: false }),
      columns,
      lines,
      segment: o.segment,
      segments,
      subLon: o.subLon ?? 140.7,
      nav: { cfac, lfac: cfac, coff, loff: coff },
      sspLat: 0.01,
      satDistanceKm: 42164.1,
      band,
      wavelengthUm: o.wavelength ?? 10.4073,
      // IR (band ≥ 7) or VIS tail; the IR terms are satpy's test file's (hsd_format.md).
      calibration:
        band >= 7
          ? { kind: 'ir', ...common, validBits: 12, ...AHI_BAND13_TERMS }
          : { kind: 'vis', ...common, validBits: 11, albedo: 0.0019255, caliGain: -0.0074, caliOffset: 30.4 },
      tb2rad: [0.1, 0.99, 1e-6],
      calibrationTime: start,
      // One error_info entry with no error pixels on the segment's first line.
      errorLines: [[firstLine, 0]],
    },
    data,
  );
}

/** The file's bytes: bz2-compressed unless compress === false. */
export function himawariSegmentFile(o: HimawariSegmentOptions): Uint8Array {
  const raw = hsdSegmentBytes(o);
  if (o.compress === false) return raw;
  const out = Bzip2.compressFile(raw);
  return out instanceof Uint8Array ? out : Uint8Array.from(out);
}
