/**
 * The tactical map: a canvas with an offline world basemap (Natural Earth
 * 1:110m countries from the world-atlas package, bundled, drawn with d3-geo
 * in the equirectangular projection), the latest imagery overlay, the
 * selected object's ground track, and every tracked object at its
 * interpolated position, redrawn every animation frame.
 *
 * Equirectangular keeps the overlay simple (a scene PNG in plate carrée
 * over its bbox is one drawImage) and makes projecting 10^4 objects per
 * frame two multiply-adds each instead of a d3 projection call.
 * Wheel zooms around the cursor, drag pans, click selects the nearest object.
 */
import { geoEquirectangular, geoGraticule10, geoPath, type GeoProjection } from 'd3-geo';
import { feature, mesh } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import countries110m from 'world-atlas/countries-110m.json';
import type { OrbitRegime } from '../../../tracker/orbit-regime.js';
import { isPhysicalFailure, QA_ELEMENTS_EXPIRED } from '../../../tracker/qa.js';
import { positionAt, type StateStore, type TrackedObject } from './state-store.js';

import type { Overlay } from './overlay.js';

export interface ScreenObject {
  id: number;
  lon: number;
  lat: number;
  altKm: number;
  x: number;
  y: number;
}

const RAD = Math.PI / 180;
const topo = countries110m as unknown as Topology<{ countries: GeometryCollection; land: GeometryCollection }>;
const land = feature(topo, topo.objects.land);
const borders = mesh(topo, topo.objects.countries, (a, b) => a !== b);
const graticule = geoGraticule10();
const SPHERE = { type: 'Sphere' } as const;

/**
 * Colours by orbit regime: the tracker's regime of the object's elements
 * (actors/tracker/orbit-regime.ts, as the filters use it) once the catalog
 * metadata has loaded, else altitude bands as in common usage (LEO < 2,000 km,
 * GEO ≈ 35,786 km); a state failing physical QA (the tracker's own rule,
 * actors/tracker/qa.ts) in red. A state from elements past their orbit's age
 * limit (elements_expired: not good, the object may be far from the dot) is
 * drawn in its regime colour, dimmed. Softer flags (a stale epoch) keep the
 * regime colour.
 */
function colourOf(o: TrackedObject, regime: OrbitRegime | null | undefined): number {
  if (isPhysicalFailure(o.flags)) return 3;
  const dim = (o.flags & QA_ELEMENTS_EXPIRED) !== 0 ? DIMMED : 0;
  if (regime) return (regime === 'leo' ? 0 : regime === 'geo' ? 2 : 1) + dim;
  if (o.alt1 < 2000) return 0 + dim;
  if (o.alt1 > 35_000 && o.alt1 < 36_600) return 2 + dim;
  return 1 + dim;
}
/** Offset of the dimmed variants of the regime colours in COLOURS. */
const DIMMED = 4;
const COLOURS = ['#7fe0ff', '#ffd166', '#c792ea', '#ff6b6b', 'rgba(127, 224, 255, 0.28)', 'rgba(255, 209, 102, 0.28)', 'rgba(199, 146, 234, 0.28)'];
const DRAW_ORDER = [4, 5, 6, 0, 1, 2, 3];
export const LEGEND: Array<[string, string]> = [
  ['LEO', COLOURS[0]!],
  ['MEO / HEO', COLOURS[1]!],
  ['GEO', COLOURS[2]!],
  ['QA failed', COLOURS[3]!],
  ['Elements too old (dimmed)', COLOURS[DIMMED]!],
];

export class TacticalMap {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly base = document.createElement('canvas');
  private projection: GeoProjection = geoEquirectangular();
  private zoom = 1;
  private centre: [number, number] = [0, 0];
  private width = 0;
  private height = 0;
  private dpr = 1;
  private baseDirty = true;
  private readonly pos = new Float64Array(3);
  /**
   * Where each object was drawn last frame (hit testing and the test hook read them), in
   * reused typed arrays: no allocation per object per frame at tens of thousands of objects.
   */
  private drawn = { n: 0, ids: new Uint32Array(0), lon: new Float64Array(0), lat: new Float64Array(0), alt: new Float64Array(0), x: new Float64Array(0), y: new Float64Array(0) };
  private buckets: Float64Array[] = COLOURS.map(() => new Float64Array(0));
  selected: number | null = null;
  /** Objects the filters keep (filters.ts); the others are not drawn, listed or clickable. */
  filter: ((o: TrackedObject) => boolean) | null = null;
  /** Each object's orbit regime from its elements, where known (catalog-meta.ts). */
  regimeOf: (id: number) => OrbitRegime | null | undefined = () => undefined;
  /** Name drawn beside the selected object. */
  selectedLabel = '';
  track: [number, number][][] = [];
  observer: [number, number] | null = null;
  overlays: Overlay[] = [];
  showOverlay = true;
  onSelect: (id: number | null) => void = () => {};

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly store: StateStore,
  ) {
    this.ctx = canvas.getContext('2d')!;
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
    this.interact();
    const loop = (): void => {
      this.draw();
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  private resize(): void {
    const r = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.width = Math.max(1, Math.round(r.width));
    this.height = Math.max(1, Math.round(r.height));
    this.canvas.width = this.width * this.dpr;
    this.canvas.height = this.height * this.dpr;
    this.base.width = this.canvas.width;
    this.base.height = this.canvas.height;
    this.fit();
  }

  /** Whole world fitted to the canvas at zoom 1, then zoomed around `centre` (degrees). */
  private fit(): void {
    const p = geoEquirectangular().fitSize([this.width, this.height], SPHERE);
    const k = p.scale() * this.zoom;
    // Keep the map covering the view: clamp the centre so no empty band shows beyond ±180/±90 when zoomed in.
    const halfW = this.width / 2 / (k * RAD);
    const halfH = this.height / 2 / (k * RAD);
    const cx = halfW >= 180 ? 0 : Math.max(-180 + halfW, Math.min(180 - halfW, this.centre[0]));
    const cy = halfH >= 90 ? 0 : Math.max(-90 + halfH, Math.min(90 - halfH, this.centre[1]));
    this.centre = [cx, cy];
    this.projection = geoEquirectangular()
      .scale(k)
      .translate([this.width / 2 - k * cx * RAD, this.height / 2 + k * cy * RAD]);
    this.baseDirty = true;
  }

  /** Screen x, y of a lon/lat (the equirectangular formula, as d3 computes it without rotation). */
  private xy(lon: number, lat: number): [number, number] {
    const k = this.projection.scale();
    const [tx, ty] = this.projection.translate();
    return [tx + k * lon * RAD, ty - k * lat * RAD];
  }

  /** Canvas CSS-pixel position of lon/lat (degrees). */
  project(lon: number, lat: number): [number, number] {
    return this.xy(lon, lat);
  }

  private lonLatAt(x: number, y: number): [number, number] {
    const k = this.projection.scale();
    const [tx, ty] = this.projection.translate();
    return [(x - tx) / (k * RAD), (ty - y) / (k * RAD)];
  }

  private drawBase(): void {
    const c = this.base.getContext('2d')!;
    c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    c.fillStyle = '#0b1320';
    c.fillRect(0, 0, this.width, this.height);
    const path = geoPath(this.projection, c);
    c.beginPath();
    path(SPHERE);
    c.fillStyle = '#0f2236';
    c.fill();
    c.beginPath();
    path(graticule);
    c.strokeStyle = 'rgba(140, 170, 200, 0.12)';
    c.lineWidth = 0.6;
    c.stroke();
    c.beginPath();
    path(land);
    c.fillStyle = '#1f3a4d';
    c.fill();
    c.beginPath();
    path(borders);
    c.strokeStyle = 'rgba(160, 200, 220, 0.35)';
    c.lineWidth = 0.5;
    c.stroke();
    this.baseDirty = false;
  }

  private draw(): void {
    if (this.baseDirty) this.drawBase();
    const c = this.ctx;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.drawImage(this.base, 0, 0);
    c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);

    if (this.showOverlay) {
      c.globalAlpha = 0.65;
      for (const o of this.overlays) {
        const [w, s, e, n] = o.bbox;
        // A scene across the antimeridian (east > 180) is drawn again one world to the west.
        for (const shift of e > 180 ? [0, -360] : [0]) {
          const [x0, y0] = this.xy(w + shift, n);
          const [x1, y1] = this.xy(e + shift, s);
          c.drawImage(o.image, x0, y0, x1 - x0, y1 - y0);
        }
      }
      c.globalAlpha = 1;
    }

    if (this.track.length > 0) {
      c.beginPath();
      for (const line of this.track) {
        line.forEach(([lon, lat], i) => {
          const [x, y] = this.xy(lon, lat);
          if (i === 0) c.moveTo(x, y);
          else c.lineTo(x, y);
        });
      }
      c.strokeStyle = 'rgba(255, 255, 255, 0.8)';
      c.lineWidth = 1.4;
      c.setLineDash([5, 4]);
      c.stroke();
      c.setLineDash([]);
    }

    if (this.observer) {
      const [x, y] = this.xy(this.observer[0], this.observer[1]);
      c.strokeStyle = '#9effa0';
      c.lineWidth = 1.5;
      c.beginPath();
      c.moveTo(x - 6, y);
      c.lineTo(x + 6, y);
      c.moveTo(x, y - 6);
      c.lineTo(x, y + 6);
      c.stroke();
    }

    const t = this.store.displayTime();
    const count = this.store.objects.size;
    const d = this.drawn;
    if (d.ids.length < count) {
      const cap = Math.ceil(count * 1.5);
      this.drawn = { n: 0, ids: new Uint32Array(cap), lon: new Float64Array(cap), lat: new Float64Array(cap), alt: new Float64Array(cap), x: new Float64Array(cap), y: new Float64Array(cap) };
      this.buckets = this.buckets.map(() => new Float64Array(cap * 2));
    }
    const dr = this.drawn;
    const fill = COLOURS.map(() => 0);
    let selX = NaN;
    let selY = NaN;
    let n = 0;
    // xy() inlined: the equirectangular formula with this frame's scale and translation.
    const kr = this.projection.scale() * RAD;
    const [tx, ty] = this.projection.translate();
    if (t !== null) {
      const keep = this.filter;
      for (const o of this.store.objects.values()) {
        if (keep && !keep(o)) continue;
        const p = positionAt(o, t, this.pos);
        const x = tx + kr * p[0]!;
        const y = ty - kr * p[1]!;
        dr.ids[n] = o.id;
        dr.lon[n] = p[0]!;
        dr.lat[n] = p[1]!;
        dr.alt[n] = p[2]!;
        dr.x[n] = x;
        dr.y[n] = y;
        n++;
        if (o.id === this.selected) {
          selX = x;
          selY = y;
        }
        if (x < -4 || y < -4 || x > this.width + 4 || y > this.height + 4) continue;
        const k = colourOf(o, this.regimeOf(o.id));
        const b = this.buckets[k]!;
        b[fill[k]!++] = x;
        b[fill[k]!++] = y;
      }
    }
    dr.n = n;
    const r = this.zoom > 3 ? 3.5 : 2.5;
    // Dimmed (expired elements) first, so live objects draw over them.
    for (const i of DRAW_ORDER) {
      const xs = this.buckets[i]!;
      c.fillStyle = COLOURS[i]!;
      for (let k = 0; k < fill[i]!; k += 2) c.fillRect(xs[k]! - r / 2, xs[k + 1]! - r / 2, r, r);
    }
    if (!Number.isNaN(selX)) {
      c.strokeStyle = '#ffffff';
      c.lineWidth = 2;
      c.beginPath();
      c.arc(selX, selY, 7, 0, 2 * Math.PI);
      c.stroke();
      if (this.selectedLabel) {
        c.font = '12px system-ui, sans-serif';
        c.fillStyle = 'rgba(8, 16, 27, 0.75)';
        const w = c.measureText(this.selectedLabel).width;
        c.fillRect(selX + 10, selY - 20, w + 8, 17);
        c.fillStyle = '#ffffff';
        c.fillText(this.selectedLabel, selX + 14, selY - 7);
      }
    }
  }

  /** Where every object was drawn in the last frame (CSS pixels within the canvas). */
  screenObjects(): ScreenObject[] {
    const d = this.drawn;
    const out: ScreenObject[] = [];
    for (let i = 0; i < d.n; i++) out.push({ id: d.ids[i]!, lon: d.lon[i]!, lat: d.lat[i]!, altKm: d.alt[i]!, x: d.x[i]!, y: d.y[i]! });
    return out;
  }

  setTrack(lines: [number, number][][]): void {
    this.track = lines;
  }

  private nearest(x: number, y: number, within = 10): number | null {
    const d = this.drawn;
    let best: number | null = null;
    let bestD = within * within;
    for (let i = 0; i < d.n; i++) {
      const dist = (d.x[i]! - x) ** 2 + (d.y[i]! - y) ** 2;
      if (dist < bestD) {
        bestD = dist;
        best = d.ids[i]!;
      }
    }
    return best;
  }

  private interact(): void {
    let drag: { x: number; y: number; centre: [number, number]; moved: boolean } | null = null;
    this.canvas.addEventListener('pointerdown', (e) => {
      drag = { x: e.offsetX, y: e.offsetY, centre: [...this.centre], moved: false };
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.offsetX - drag.x;
      const dy = e.offsetY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      const k = this.projection.scale() * RAD;
      this.centre = [drag.centre[0] - dx / k, drag.centre[1] + dy / k];
      this.fit();
    });
    this.canvas.addEventListener('pointerup', (e) => {
      if (drag && !drag.moved) this.onSelect(this.nearest(e.offsetX, e.offsetY));
      drag = null;
    });
    this.canvas.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const before = this.lonLatAt(e.offsetX, e.offsetY);
        this.zoom = Math.max(1, Math.min(40, this.zoom * (e.deltaY < 0 ? 1.25 : 0.8)));
        this.fit();
        // Keep the point under the cursor in place.
        const after = this.lonLatAt(e.offsetX, e.offsetY);
        this.centre = [this.centre[0] + before[0] - after[0], this.centre[1] + before[1] - after[1]];
        this.fit();
      },
      { passive: false },
    );
  }
}
