// The dashboard's charts on the tree-shaken core of ECharts (canvas renderer, no eval, no inline styles:
// tooltips render as rich text on the canvas so the strict CSP holds). Colours come from the theme.
import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { BarSeriesOption, HeatmapSeriesOption, LineSeriesOption } from 'echarts/charts';
import type { DataZoomComponentOption, GridComponentOption, LegendComponentOption, TooltipComponentOption, VisualMapComponentOption } from 'echarts/components';
import type { ComposeOption } from 'echarts/core';
import type { FlatMatrix } from '../src/protocol/messages';
import { themeColor } from './common';

echarts.use([HeatmapChart, BarChart, LineChart, GridComponent, TooltipComponent, VisualMapComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

/** The option type of the charts used here. */
export type ChartOption = ComposeOption<HeatmapSeriesOption | BarSeriesOption | LineSeriesOption | GridComponentOption | TooltipComponentOption
  | VisualMapComponentOption | LegendComponentOption | DataZoomComponentOption>;

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
  renderMode: 'richText', backgroundColor: p.bg, borderColor: p.grid, textStyle: { color: p.fg, fontSize: 12 }, confine: true,
});

const axisStyle = (p: Palette): object => ({
  axisLine: { lineStyle: { color: p.grid } }, axisLabel: { color: p.muted, fontSize: 10 }, nameTextStyle: { color: p.muted }, splitLine: { lineStyle: { color: p.grid, opacity: 0.4 } },
});

/** Labels of a heatmap's rows/columns: class names, or index ranges when downsampled. */
export function matrixLabels(m: FlatMatrix, fullK: number, name: (k: number) => string): string[] {
  const b = m.block ?? 1;
  return Array.from({ length: m.K }, (_, c) => (b === 1 ? name(c) : `${c * b}–${Math.min(fullK, (c + 1) * b) - 1}`));
}

/** A K x K heatmap: G on a diverging scale centred on 0, or P on a sequential scale. */
export function heatmapOption(m: FlatMatrix, kind: 'gain' | 'dist', fullK: number, name: (k: number) => string, p: Palette): ChartOption {
  const n = m.K;
  const labels = matrixLabels(m, fullK, name);
  const data: [number, number, number][] = new Array(n * n);
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = m.data[i * n + j] ?? 0;
      data[i * n + j] = [j, i, v];
      if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
    }
  }
  const top = maxAbs > 0 ? maxAbs : 1e-12;
  const labelEvery = n > 25 ? Math.ceil(n / 20) - 1 : 0;
  const b = m.block ?? 1;
  const what = kind === 'gain' ? (m.block ? 'max |G| of block' : 'G') : (m.block ? 'P mass of block' : 'P');
  return {
    animation: false,
    grid: { left: 8, right: 8, top: 28, bottom: 56, containLabel: true },
    tooltip: {
      ...tooltipBase(p),
      formatter: (params: unknown) => {
        const d = (params as { data: [number, number, number] }).data;
        return `anchor ${labels[d[1]]}  →  partner ${labels[d[0]]}\n${what} = ${d[2].toPrecision(4)}`;
      },
    },
    xAxis: { type: 'category', data: labels, name: 'partner j', nameLocation: 'middle', nameGap: n > 25 ? 44 : 22, splitArea: { show: false }, ...axisStyle(p),
      axisLabel: { color: p.muted, fontSize: 10, interval: labelEvery, rotate: n > 25 || b > 1 ? 45 : 0 } },
    yAxis: { type: 'category', data: labels, name: 'anchor i', nameLocation: 'start', inverse: true, splitArea: { show: false }, ...axisStyle(p),
      axisLabel: { color: p.muted, fontSize: 10, interval: labelEvery } },
    visualMap: {
      type: 'continuous', min: kind === 'gain' ? -top : 0, max: top, calculable: false, orient: 'horizontal', left: 'center', top: 0, itemHeight: 120, itemWidth: 10,
      text: [kind === 'gain' ? `+${top.toPrecision(2)}` : top.toPrecision(2), kind === 'gain' ? `−${top.toPrecision(2)}` : '0'], textStyle: { color: p.muted },
      inRange: { color: kind === 'gain' ? [p.blue, p.bg, p.red] : [p.bg, p.orange] },
    },
    series: [{ type: 'heatmap', data, progressive: 0, emphasis: { itemStyle: { borderColor: p.fg, borderWidth: 1 } } }],
  };
}

/** Per-class recall: the starting model against now. */
export function recallBarsOption(names: string[], start: number[] | null, now: number[] | null, p: Palette): ChartOption {
  const many = names.length > 40;
  // A fixed label interval for many classes: ECharts' automatic one measures every label on each redraw.
  const labelEvery = names.length > 100 ? Math.ceil(names.length / 25) - 1 : 'auto';
  return {
    animation: false,
    grid: { left: 8, right: 8, top: 28, bottom: many ? 48 : 8, containLabel: true },
    legend: { top: 0, textStyle: { color: p.fg }, data: ['start', 'now'] },
    tooltip: { ...tooltipBase(p), trigger: 'axis' },
    xAxis: { type: 'category', data: names, ...axisStyle(p), axisLabel: { color: p.muted, fontSize: 10, interval: labelEvery } },
    yAxis: { type: 'value', min: 0, max: 1, name: 'recall', ...axisStyle(p) },
    dataZoom: many ? [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 8, textStyle: { color: p.muted } }] : [],
    series: [
      { name: 'start', type: 'bar', data: start ?? [], itemStyle: { color: p.muted }, barGap: '10%', large: names.length > 200 },
      { name: 'now', type: 'bar', data: now ?? [], itemStyle: { color: p.blue }, large: names.length > 200 },
    ],
  };
}

/** Curves over steps: named series of [step, value] points. */
export function curvesOption(series: { name: string; points: [number, number][]; color?: string; dashed?: boolean }[], p: Palette, yName: string, log = false): ChartOption {
  return {
    animation: false,
    grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
    legend: { top: 0, type: 'scroll', textStyle: { color: p.fg }, pageTextStyle: { color: p.fg } },
    tooltip: { ...tooltipBase(p), trigger: 'axis' },
    xAxis: { type: 'value', name: 'step', min: 'dataMin', ...axisStyle(p) },
    yAxis: { type: log ? 'log' : 'value', name: yName, scale: true, ...axisStyle(p) },
    series: series.map((s, i) => ({
      name: s.name, type: 'line', showSymbol: false, data: s.points, sampling: 'lttb',
      lineStyle: { width: 1.5, type: s.dashed ? 'dashed' : 'solid' }, itemStyle: { color: s.color ?? p.series[i % p.series.length] },
    })),
  };
}
