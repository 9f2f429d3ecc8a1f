/**
 * The kernels the pipeline calls: helper B's Kernels interface
 * (actors/tile/kernels), native or TS reference behind the same promises.
 */
export type { Kernels as TileKernels } from '../kernels/index.js';
