/**
 * Line plots as PNG for benches, drawn pixel by pixel into a pngjs image:
 * stacked panels sharing one x axis, each with its own y scale (from zero,
 * rounded to nice ticks), a legend, and vertical markers (e.g. phases).
 * Text uses a built-in 5x7 capitals font, so nothing is loaded at run time.
 * The scales and the layout are pure and tested; drawing is thin.
 */
import { PNG } from 'pngjs';

export type Rgb = readonly [number, number, number];

export interface Series {
  label: string;
  color: Rgb;
  /** [x, y] in data units, x ascending. */
  points: ReadonlyArray<readonly [number, number]>;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  series: Series[];
}

export interface Marker {
  x: number;
  label: string;
}

export interface PlotOptions {
  width?: number;
  panelHeight?: number;
  xLabel?: string;
  markers?: Marker[];
}

export const PALETTE: Rgb[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [255, 127, 14],
  [148, 103, 189],
  [140, 86, 75],
];

export interface NiceScale {
  lo: number;
  hi: number;
  step: number;
}

/** A tick step of 1, 2 or 5 times a power of ten giving at most `maxTicks` intervals over [lo, hi]. Pure. */
export function niceScale(min: number, max: number, maxTicks = 5, includeZero = true): NiceScale {
  let lo = includeZero ? Math.min(0, min) : min;
  let hi = includeZero ? Math.max(0, max) : max;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { lo: 0, hi: 1, step: 0.2 };
  if (hi === lo) {
    const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
    hi += pad;
    if (!includeZero || lo !== 0) lo -= pad;
  }
  const raw = (hi - lo) / maxTicks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw - 1e-12 * pow)!;
  return { lo: Math.floor(lo / step + 1e-9) * step, hi: Math.ceil(hi / step - 1e-9) * step, step };
}

/** The tick values of a scale, lo to hi. Pure. */
export function ticks(s: NiceScale): number[] {
  const n = Math.round((s.hi - s.lo) / s.step);
  return Array.from({ length: n + 1 }, (_, i) => Number((s.lo + i * s.step).toPrecision(12)));
}

/** Maps [d0, d1] onto [r0, r1] linearly (r may run backwards, as y does on screen). Pure. */
export function linear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** A tick label: no trailing zeros, at most 2 decimals. Pure. */
export function tickLabel(v: number): string {
  return String(Number(v.toFixed(2)));
}

// 5x7 capitals, digits and some punctuation; rows top to bottom, bit 4 = leftmost pixel.
const FONT: Record<string, number[]> = {
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e], '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f], '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02], '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e], '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e], '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11], B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e], D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f], F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f], H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e], J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11], N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d], R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e], T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a], X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04], Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  ' ': [0, 0, 0, 0, 0, 0, 0], '.': [0, 0, 0, 0, 0, 0x0c, 0x0c], ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0], '-': [0, 0, 0, 0x1f, 0, 0, 0], '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0], '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0], '<': [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
  '>': [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08], _: [0, 0, 0, 0, 0, 0, 0x1f],
};
const GLYPH_W = 6; // 5 columns and a gap
const GLYPH_H = 7;

/** Width in pixels of `text` at `scale`. Pure. */
export function textWidth(text: string, scale = 1): number {
  return text.length * GLYPH_W * scale;
}

/** Pixel bounds of panel `i` (0-based) for the layout of `renderPlot`. Pure. */
export function panelBox(i: number, width: number, panelHeight: number): { left: number; right: number; top: number; bottom: number } {
  const HEADER = 24;
  return { left: 70, right: width - 20, top: HEADER + i * panelHeight + 30, bottom: HEADER + (i + 1) * panelHeight - 24 };
}

class Canvas {
  readonly png: PNG;
  constructor(readonly width: number, readonly height: number) {
    this.png = new PNG({ width, height });
    this.png.data.fill(255);
  }
  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    this.png.data[i] = c[0];
    this.png.data[i + 1] = c[1];
    this.png.data[i + 2] = c[2];
    this.png.data[i + 3] = 255;
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    for (let y = Math.round(y0); y <= Math.round(y1); y++) for (let x = Math.round(x0); x <= Math.round(x1); x++) this.set(x, y, c);
  }
  /** A line `thick` pixels wide; dashed lines leave gaps of 4 every 8 pixels. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1, dashed = false): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let k = 0; k <= n; k++) {
      if (dashed && k % 8 >= 5) continue;
      const x = x0 + ((x1 - x0) * k) / n;
      const y = y0 + ((y1 - y0) * k) / n;
      for (let dy = 0; dy < thick; dy++) for (let dx = 0; dx < thick; dx++) this.set(x + dx - (thick >> 1), y + dy - (thick >> 1), c);
    }
  }
  text(x: number, y: number, s: string, c: Rgb, scale = 1): void {
    const up = s.toUpperCase();
    for (let i = 0; i < up.length; i++) {
      const g = FONT[up[i]!] ?? FONT['-']!;
      for (let row = 0; row < GLYPH_H; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row]! & (0x10 >> col)) this.rect(x + (i * GLYPH_W + col) * scale, y + row * scale, x + (i * GLYPH_W + col) * scale + scale - 1, y + row * scale + scale - 1, c);
        }
      }
    }
  }
}

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [200, 200, 200];
const DARK: Rgb = [90, 90, 90];

/** Renders the panels into a PNG (one above the other, the x axis shared) and returns its bytes. */
export function renderPlot(title: string, panels: readonly Panel[], opts: PlotOptions = {}): Buffer {
  const width = opts.width ?? 1000;
  const panelHeight = opts.panelHeight ?? 260;
  const height = 24 + panels.length * panelHeight + 20;
  const cv = new Canvas(width, height);
  cv.text(10, 6, title, BLACK, 2);
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q[0])));
  const xScale = niceScale(Math.min(...xs, ...(opts.markers ?? []).map((m) => m.x)), Math.max(...xs, ...(opts.markers ?? []).map((m) => m.x)), 10, false);
  panels.forEach((panel, i) => {
    const box = panelBox(i, width, panelHeight);
    const ys = panel.series.flatMap((s) => s.points.map((q) => q[1]));
    const yScale = niceScale(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5, true);
    const X = linear(xScale.lo, xScale.hi, box.left, box.right);
    const Y = linear(yScale.lo, yScale.hi, box.bottom, box.top);
    cv.text(box.left, box.top - 24, panel.title, BLACK, 1);
    // Legend on the title line, right-aligned.
    let lx = box.right;
    for (const s of [...panel.series].reverse().filter((x) => x.label)) {
      lx -= textWidth(s.label) + 22;
      cv.line(lx, box.top - 21, lx + 12, box.top - 21, s.color, 3, s.dashed);
      cv.text(lx + 16, box.top - 24, s.label, DARK);
    }
    for (const v of ticks(yScale)) {
      cv.line(box.left, Y(v), box.right, Y(v), GREY);
      const label = tickLabel(v);
      cv.text(box.left - 6 - textWidth(label), Y(v) - 3, label, DARK);
    }
    for (const v of ticks(xScale)) {
      cv.line(X(v), box.top, X(v), box.bottom, GREY);
      const label = tickLabel(v);
      cv.text(X(v) - textWidth(label) / 2, box.bottom + 5, label, DARK);
    }
    for (const m of opts.markers ?? []) {
      cv.line(X(m.x), box.top, X(m.x), box.bottom, DARK, 1, true);
      if (i === 0) cv.text(X(m.x) + 3, box.top + 3, m.label, DARK);
    }
    cv.line(box.left, box.bottom, box.right, box.bottom, BLACK);
    cv.line(box.left, box.top, box.left, box.bottom, BLACK);
    for (const s of panel.series) {
      for (let k = 1; k < s.points.length; k++) {
        const [x0, y0] = s.points[k - 1]!;
        const [x1, y1] = s.points[k]!;
        cv.line(X(x0), Y(y0), X(x1), Y(y1), s.color, 2, s.dashed);
      }
      if (s.points.length === 1) cv.rect(X(s.points[0]![0]) - 1, Y(s.points[0]![1]) - 1, X(s.points[0]![0]) + 1, Y(s.points[0]![1]) + 1, s.color);
    }
  });
  if (opts.xLabel) cv.text(width / 2 - textWidth(opts.xLabel) / 2, height - 12, opts.xLabel, DARK);
  return PNG.sync.write(cv.png);
}
