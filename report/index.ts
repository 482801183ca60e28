/** `tinyproto report`: what learning cost each board next to what it learned, per round and per agent. */
export type { RunData, RunKind, RunRound, AgentAccuracy } from './model.ts';
export { loadRun, loadRuns, loadSimulationJson, loadAggregatorDb, accuracyByRound, checkTelemetry } from './load.ts';
export { buildCharts, energySourceLabel, slug, PHASES, type Chart, type SkippedChart } from './charts.ts';
export { lineChart, stackedBarChart, groupedBarChart, escapeXml, niceTicks, formatTick, PALETTE, FONT_FAMILY } from './svg.ts';
export type { LineChartSpec, LineSeries, BarChartSpec, BarSeries } from './svg.ts';
export { svgToPng, PNG_SIGNATURE } from './png.ts';
export { csvField, toCsv } from './csv.ts';
export { summariseRun, type RunSummary } from './summary.ts';
export { reportHtml, escapeHtml } from './html.ts';
export { writeReport, roundsCsv, agentsCsv, telemetryCsv, type ReportOptions, type ReportResult } from './write.ts';
