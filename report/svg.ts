/**
 * Hand-written SVG charts (no plotting dependency): a line chart, a stacked bar chart and a
 * grouped bar chart, each with title, axes, ticks, axis labels and a legend. Every piece of
 * text is XML-escaped. Data marks carry class="line" / class="bar" / class="point".
 */

const FONT_FAMILY = "'DejaVu Sans', sans-serif";

/** Tableau 10: distinguishable, colour-blind-aware. */
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'] as const;

export const colorAt = (i: number): string => PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]!;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface LineSeries {
  readonly name: string;
  /** null y values break the line. */
  readonly points: readonly { readonly x: number; readonly y: number | null }[];
  readonly color?: string;
  readonly dashed?: boolean;
}

interface ChartCommon {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Values are fractions shown as percentages. */
  readonly yPercent?: boolean;
  readonly width?: number;
  readonly height?: number;
}

export interface LineChartSpec extends ChartCommon {
  readonly series: readonly LineSeries[];
  /** Force the y axis to start at 0 (default true). */
  readonly yFromZero?: boolean;
}

export interface BarSeries {
  readonly name: string;
  /** One value per category; null draws nothing. */
  readonly values: readonly (number | null)[];
  readonly color?: string;
}

export interface BarChartSpec extends ChartCommon {
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
}

const fmt = (v: number, digits = 3): string => String(Number(v.toFixed(digits)));

/** ~`count` round tick values (1, 2, 5 x 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5, integer = false): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = Math.abs(max) > 0 ? Math.abs(max) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const start = Math.floor(min / step + 1e-9) * step;
  const end = Math.ceil(max / step - 1e-9) * step;
  const out: number[] = [];
  for (let v = start; v <= end + step * 1e-6 && out.length < 100; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function formatTick(v: number, percent: boolean): string {
  if (percent) return `${Number((v * 100).toFixed(1))}%`;
  const a = Math.abs(v);
  if (a >= 1e9) return `${fmt(v / 1e9, 2)}G`;
  if (a >= 1e6) return `${fmt(v / 1e6, 2)}M`;
  if (a >= 1e4) return `${fmt(v / 1e3, 1)}k`;
  return fmt(v, 4);
}

/** Width estimate of a label at `size` px (DejaVu Sans averages ~0.6 em). */
const textWidth = (s: string, size: number): number => s.length * size * 0.6;

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}\u2026`;
}

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly top: number;
  readonly plotW: number;
  readonly plotH: number;
  readonly legendX: number;
}

const LEGEND_ROW = 18;
const LEGEND_MAX_CHARS = 42;

function frame(spec: ChartCommon, legendLabels: readonly string[]): Frame {
  const width = spec.width ?? 1000;
  const legendW = legendLabels.length ? Math.min(330, 50 + Math.max(...legendLabels.map((l) => textWidth(truncate(l, LEGEND_MAX_CHARS), 12)))) : 0;
  const top = 50;
  const bottom = 60;
  const left = 80;
  const right = 20 + legendW;
  const height = Math.max(spec.height ?? 500, top + bottom + legendLabels.length * LEGEND_ROW + 10);
  return { width, height, left, top, plotW: width - left - right, plotH: height - top - bottom, legendX: width - legendW };
}

function open(f: Frame, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="${escapeXml(FONT_FAMILY)}" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text x="${f.width / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold" fill="#222222">${escapeXml(title)}</text>`,
  ];
}

/** Axes, grid lines, tick labels and axis titles. yTicks in data units, mapped by `sy`. */
function axes(f: Frame, spec: ChartCommon, yTicks: readonly number[], sy: (v: number) => number, xTicks: readonly { pos: number; label: string }[]): string[] {
  const out: string[] = [];
  const x0 = f.left;
  const y0 = f.top + f.plotH;
  for (const t of yTicks) {
    const y = fmt(sy(t), 2);
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + f.plotW}" y2="${y}" stroke="#e3e3e3" stroke-width="1"/>`);
    out.push(`<text x="${x0 - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444444">${escapeXml(formatTick(t, spec.yPercent ?? false))}</text>`);
  }
  const every = Math.max(1, Math.ceil((xTicks.length * 60) / Math.max(1, f.plotW)));
  xTicks.forEach((t, i) => {
    const x = fmt(t.pos, 2);
    out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 5}" stroke="#666666" stroke-width="1"/>`);
    if (i % every === 0) out.push(`<text x="${x}" y="${y0 + 19}" text-anchor="middle" fill="#444444">${escapeXml(truncate(t.label, 16))}</text>`);
  });
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0 + f.plotW}" y2="${y0}" stroke="#666666" stroke-width="1"/>`);
  out.push(`<line x1="${x0}" y1="${f.top}" x2="${x0}" y2="${y0}" stroke="#666666" stroke-width="1"/>`);
  out.push(`<text x="${x0 + f.plotW / 2}" y="${f.height - 16}" text-anchor="middle" font-size="13" fill="#222222">${escapeXml(spec.xLabel)}</text>`);
  const cy = f.top + f.plotH / 2;
  out.push(`<text x="20" y="${cy}" text-anchor="middle" font-size="13" fill="#222222" transform="rotate(-90 20 ${cy})">${escapeXml(spec.yLabel)}</text>`);
  return out;
}

function legend(f: Frame, entries: readonly { name: string; color: string; kind: 'line' | 'dashed' | 'box' }[]): string[] {
  const out: string[] = [];
  entries.forEach((e, i) => {
    const y = f.top + 8 + i * LEGEND_ROW;
    const x = f.legendX + 10;
    if (e.kind === 'box') out.push(`<rect class="swatch" x="${x}" y="${y - 6}" width="18" height="12" fill="${e.color}"/>`);
    else out.push(`<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${e.kind === 'dashed' ? ' stroke-dasharray="6 3"' : ''}/>`);
    out.push(`<text x="${x + 26}" y="${y}" dominant-baseline="middle" fill="#222222">${escapeXml(truncate(e.name, LEGEND_MAX_CHARS))}</text>`);
  });
  return out;
}

export function lineChart(spec: LineChartSpec): string {
  const f = frame(spec, spec.series.map((s) => s.name));
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    for (const p of s.points) {
      if (!Number.isFinite(p.x)) continue;
      xs.push(p.x);
      if (p.y !== null && Number.isFinite(p.y)) ys.push(p.y);
    }
  }
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  const integerX = xs.every((x) => Number.isInteger(x));
  const xLo = xMin;
  const xHi = xMax === xMin ? xMin + 1 : xMax;
  const xTicks = niceTicks(xLo, xHi, 10, integerX).filter((t) => t >= xLo - 1e-9 && t <= xHi + 1e-9);
  let yLo = ys.length ? Math.min(...ys) : 0;
  let yHi = ys.length ? Math.max(...ys) : 1;
  if (spec.yFromZero ?? true) yLo = Math.min(0, yLo);
  if (spec.yPercent && yHi <= 1 && yLo >= 0) yHi = Math.min(1, yHi + 0.05);
  const yTicks = niceTicks(yLo, yHi, 6);
  const tLo = yTicks[0]!;
  const tHi = yTicks[yTicks.length - 1]!;
  const sx = (x: number): number => f.left + ((x - xLo) / (xHi - xLo)) * f.plotW;
  const sy = (y: number): number => f.top + f.plotH - ((y - tLo) / (tHi - tLo || 1)) * f.plotH;
  const out = open(f, spec.title);
  out.push(...axes(f, spec, yTicks, sy, xTicks.map((t) => ({ pos: sx(t), label: formatTick(t, false) }))));
  const markers = spec.series.every((s) => s.points.length <= 40);
  spec.series.forEach((s, i) => {
    const color = s.color ?? colorAt(i);
    const dash = s.dashed ? ' stroke-dasharray="6 3"' : '';
    let seg: string[] = [];
    const flush = (): void => {
      if (seg.length > 1) out.push(`<polyline class="line" fill="none" stroke="${color}" stroke-width="2.2"${dash} points="${seg.join(' ')}"/>`);
      seg = [];
    };
    for (const p of s.points) {
      if (p.y === null || !Number.isFinite(p.y) || !Number.isFinite(p.x)) {
        flush();
        continue;
      }
      const px = fmt(sx(p.x), 2);
      const py = fmt(sy(p.y), 2);
      seg.push(`${px},${py}`);
      if (markers) out.push(`<circle class="point" cx="${px}" cy="${py}" r="3" fill="${s.dashed ? '#ffffff' : color}" stroke="${color}" stroke-width="1.5"/>`);
    }
    flush();
  });
  out.push(...legend(f, spec.series.map((s, i) => ({ name: s.name, color: s.color ?? colorAt(i), kind: s.dashed ? ('dashed' as const) : ('line' as const) }))));
  out.push('</svg>');
  return out.join('\n');
}

function barFrame(spec: BarChartSpec, yMax: number): { f: Frame; yTicks: number[]; sy: (v: number) => number; band: number } {
  const f = frame(spec, spec.series.map((s) => s.name));
  const yTicks = niceTicks(0, yMax > 0 ? yMax : 1, 6);
  const tHi = yTicks[yTicks.length - 1]!;
  const sy = (y: number): number => f.top + f.plotH - (y / (tHi || 1)) * f.plotH;
  return { f, yTicks, sy, band: f.plotW / Math.max(1, spec.categories.length) };
}

const val = (v: number | null | undefined): number => (v === null || v === undefined || !Number.isFinite(v) || v < 0 ? 0 : v);

/** One bar per category, the series stacked in order (negative and missing values count as 0). */
export function stackedBarChart(spec: BarChartSpec): string {
  const totals = spec.categories.map((_, c) => spec.series.reduce((a, s) => a + val(s.values[c]), 0));
  const { f, yTicks, sy, band } = barFrame(spec, Math.max(0, ...totals));
  const out = open(f, spec.title);
  out.push(...axes(f, spec, yTicks, sy, spec.categories.map((label, c) => ({ pos: f.left + band * (c + 0.5), label }))));
  const w = Math.max(1, band * 0.7);
  spec.categories.forEach((cat, c) => {
    let acc = 0;
    const x = fmt(f.left + band * c + (band - w) / 2, 2);
    spec.series.forEach((s, i) => {
      const v = val(s.values[c]);
      if (v <= 0) return;
      const yTop = sy(acc + v);
      const h = sy(acc) - yTop;
      acc += v;
      out.push(
        `<rect class="bar" x="${x}" y="${fmt(yTop, 2)}" width="${fmt(w, 2)}" height="${fmt(h, 2)}" fill="${s.color ?? colorAt(i)}"><title>${escapeXml(`${cat} - ${s.name}: ${formatTick(v, spec.yPercent ?? false)}`)}</title></rect>`,
      );
    });
  });
  out.push(...legend(f, spec.series.map((s, i) => ({ name: s.name, color: s.color ?? colorAt(i), kind: 'box' as const }))));
  out.push('</svg>');
  return out.join('\n');
}

/** Per category, one bar per series side by side (missing values leave a gap). */
export function groupedBarChart(spec: BarChartSpec): string {
  const all = spec.series.flatMap((s) => s.values.map(val));
  const { f, yTicks, sy, band } = barFrame(spec, Math.max(0, ...all));
  const out = open(f, spec.title);
  out.push(...axes(f, spec, yTicks, sy, spec.categories.map((label, c) => ({ pos: f.left + band * (c + 0.5), label }))));
  const n = Math.max(1, spec.series.length);
  const inner = band * 0.8;
  const w = Math.max(1, inner / n);
  spec.categories.forEach((cat, c) => {
    spec.series.forEach((s, i) => {
      const raw = s.values[c];
      if (raw === null || raw === undefined || !Number.isFinite(raw)) return;
      const v = val(raw);
      const x = f.left + band * c + (band - inner) / 2 + w * i;
      const yTop = sy(v);
      out.push(
        `<rect class="bar" x="${fmt(x, 2)}" y="${fmt(yTop, 2)}" width="${fmt(Math.max(0.5, w - 1), 2)}" height="${fmt(sy(0) - yTop, 2)}" fill="${s.color ?? colorAt(i)}"><title>${escapeXml(`${cat} - ${s.name}: ${formatTick(v, spec.yPercent ?? false)}`)}</title></rect>`,
      );
    });
  });
  out.push(...legend(f, spec.series.map((s, i) => ({ name: s.name, color: s.color ?? colorAt(i), kind: 'box' as const }))));
  out.push('</svg>');
  return out.join('\n');
}
