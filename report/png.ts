/**
 * SVG -> PNG with @resvg/resvg-js (prebuilt native binary; system fonts, DejaVu Sans preferred).
 * The binding is loaded on first use, so importing the report (or the CLI) on a board without
 * the prebuilt binary costs nothing until a PNG is asked for.
 */
import { createRequire } from 'node:module';
import { TinyProtoError } from '../common/errors.ts';

export const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

type ResvgModule = typeof import('@resvg/resvg-js');
let resvg: ResvgModule | null = null;

function loadResvg(): ResvgModule {
  if (resvg === null) {
    try {
      resvg = createRequire(import.meta.url)('@resvg/resvg-js') as ResvgModule;
    } catch (e) {
      throw new TinyProtoError('E_CONFIG', `cannot load @resvg/resvg-js to render PNG (${(e as Error).message})`);
    }
  }
  return resvg;
}

/** Renders `svg` scaled to `width` pixels wide (default 1000) on a white background. */
export function svgToPng(svg: string, width = 1000): Buffer {
  const { Resvg } = loadResvg();
  const r = new Resvg(svg, {
    fitTo: { mode: 'width', value: width },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}
