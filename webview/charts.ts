// The dashboard's line and bar charts on the tree-shaken core of ECharts (the heatmaps are heatmap.ts) (canvas
// renderer, no eval, no inline styles:
// tooltips render as rich text on the canvas so the strict CSP holds). Colours come from the theme.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { BarSeriesOption, LineSeriesOption } from 'echarts/charts';
import type {
  DataZoomComponentOption,
  GridComponentOption,
  LegendComponentOption,
  TooltipComponentOption,
} from 'echarts/components';
import type { ComposeOption } from 'echarts/core';
import type { FlatMatrix } from '../src/protocol/messages';
import { themeColor } from './common';

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

/** The option type of the charts used here. */
export type ChartOption = ComposeOption<
  | BarSeriesOption
  | LineSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | LegendComponentOption
  | DataZoomComponentOption
>;

/** The theme's colours for charts. */
export interface Palette {
  fg: string;
  muted: string;
  bg: string;
  grid: string;
  blue: string;
  red: string;
  green: string;
  orange: string;
  purple: string;
  yellow: string;
  series: string[];
}

/** Reads the palette from the --vscode-* variables (light, dark and high-contrast themes all define them). */
export function palette(): Palette {
  const p = {
    fg: themeColor('--vscode-foreground', '#cccccc'),
    muted: themeColor('--vscode-descriptionForeground', '#999999'),
    bg: themeColor('--vscode-editor-background', '#1e1e1e'),
    grid: themeColor('--vscode-editorWidget-border', themeColor('--vscode-panel-border', '#444444')),
    blue: themeColor('--vscode-charts-blue', '#3794ff'),
    red: themeColor('--vscode-charts-red', '#f14c4c'),
    green: themeColor('--vscode-charts-green', '#89d185'),
    orange: themeColor('--vscode-charts-orange', '#d18616'),
    purple: themeColor('--vscode-charts-purple', '#b180d7'),
    yellow: themeColor('--vscode-charts-yellow', '#cca700'),
  };
  return { ...p, series: [p.blue, p.orange, p.green, p.purple, p.red, p.yellow] };
}

/** Creates a chart in a container and keeps it sized to it. */
export function makeChart(dom: HTMLElement): echarts.ECharts {
  const chart = echarts.init(dom, undefined, { renderer: 'canvas' });
  new ResizeObserver(() => chart.resize()).observe(dom);
  return chart;
}

const tooltipBase = (p: Palette): TooltipComponentOption => ({
  renderMode: 'richText',
  backgroundColor: p.bg,
  borderColor: p.grid,
  textStyle: { color: p.fg, fontSize: 12 },
  confine: true,
});

const axisStyle = (p: Palette): object => ({
  axisLine: { lineStyle: { color: p.grid } },
  axisLabel: { color: p.muted, fontSize: 10 },
  nameTextStyle: { color: p.muted },
  splitLine: { lineStyle: { color: p.grid, opacity: 0.4 } },
});

/** Labels of a heatmap's rows/columns: class names, or index ranges when downsampled. */
export function matrixLabels(m: FlatMatrix, fullK: number, name: (k: number) => string): string[] {
  const b = m.block ?? 1;
  return Array.from({ length: m.K }, (_, c) => (b === 1 ? name(c) : `${c * b}–${Math.min(fullK, (c + 1) * b) - 1}`));
}

/** Per-class recall: the starting model against now. */
export function recallBarsOption(
  names: string[],
  start: number[] | null,
  now: number[] | null,
  p: Palette,
): ChartOption {
  const many = names.length > 40;
  // A fixed label interval for many classes (about 25 labels): ECharts' automatic one measures every label on each
  // redraw, a good part of a redraw's cost at K = 100.
  const labelEvery = many ? Math.ceil(names.length / 25) - 1 : 'auto';
  return {
    animation: false,
    grid: { left: 8, right: 8, top: 28, bottom: many ? 48 : 8, containLabel: true },
    legend: { top: 0, textStyle: { color: p.fg }, data: ['start', 'now'] },
    tooltip: { ...tooltipBase(p), trigger: 'axis' },
    xAxis: {
      type: 'category',
      data: names,
      ...axisStyle(p),
      axisLabel: { color: p.muted, fontSize: 10, interval: labelEvery },
    },
    yAxis: { type: 'value', min: 0, max: 1, name: 'recall', ...axisStyle(p) },
    dataZoom: many
      ? [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 8, textStyle: { color: p.muted } }]
      : [],
    series: [
      {
        name: 'start',
        type: 'bar',
        data: start ?? [],
        itemStyle: { color: p.muted },
        barGap: '10%',
        large: names.length > 200,
      },
      { name: 'now', type: 'bar', data: now ?? [], itemStyle: { color: p.blue }, large: names.length > 200 },
    ],
  };
}

/** Per-class recall at large K: how many classes fall in each tenth of [0, 1], at the start and now. */
export function recallHistogramOption(bins: string[], start: number[], now: number[], p: Palette): ChartOption {
  return {
    animation: false,
    grid: { left: 8, right: 8, top: 28, bottom: 8, containLabel: true },
    legend: { top: 0, textStyle: { color: p.fg }, data: ['start', 'now'] },
    tooltip: { ...tooltipBase(p), trigger: 'axis' },
    xAxis: { type: 'category', data: bins, name: 'recall', ...axisStyle(p) },
    yAxis: { type: 'value', name: 'classes', minInterval: 1, ...axisStyle(p) },
    series: [
      { name: 'start', type: 'bar', data: start, itemStyle: { color: p.muted }, barGap: '10%' },
      { name: 'now', type: 'bar', data: now, itemStyle: { color: p.blue } },
    ],
  };
}

/**
 * Twelve categorical colours that stay apart from each other on light and dark backgrounds (Tableau 10 and two more).
 */
export const CATEGORICAL = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
  '#17becf',
  '#8c564b',
];

/** One curve of a line chart. */
export interface Curve {
  name: string;
  points: [number, number][];
  color?: string;
  dashed?: boolean;
  /** Drawn as a step line (a value that holds until the next refresh, e.g. a multiplier). */
  stepped?: boolean;
}

/**
 * Curves over steps: named series of [step, value] points; the step axis is named below it (never clipped at the edge).
 */
export function curvesOption(series: Curve[], p: Palette, yName: string, log = false): ChartOption {
  return {
    animation: false,
    grid: { left: 8, right: 16, top: 28, bottom: 22, containLabel: true },
    legend: { top: 0, type: 'scroll', textStyle: { color: p.fg }, pageTextStyle: { color: p.fg }, pageIconColor: p.fg },
    tooltip: { ...tooltipBase(p), trigger: 'axis' },
    xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 24, min: 'dataMin', ...axisStyle(p) },
    yAxis: { type: log ? 'log' : 'value', name: yName, scale: true, ...axisStyle(p) },
    series: series.map((s, i) => ({
      name: s.name,
      type: 'line',
      showSymbol: false,
      data: s.points,
      sampling: 'lttb',
      ...(s.stepped ? { step: 'end' as const } : {}),
      lineStyle: { width: 1.5, type: s.dashed ? 'dashed' : 'solid' },
      itemStyle: { color: s.color ?? CATEGORICAL[i % CATEGORICAL.length] },
    })),
  };
}

/** Exponential moving average of a curve's values (weight 0: none; 0.9: heavy), for the smoothing control. */
export function smooth(points: [number, number][], weight: number): [number, number][] {
  if (weight <= 0 || points.length === 0) return points;
  let m = points[0]![1];
  return points.map(([x, y]) => {
    m = Number.isFinite(y) ? weight * m + (1 - weight) * y : m;
    return [x, m];
  });
}
