// Bar charts drawn as inline SVG (no chart library): a histogram per numeric column, top values per other column, and the
// category shares of two versions side by side. Each chart is a figure with a caption and an accessible description;
// each bar has a <title> (its tooltip) with its exact value.
import { h, s, formatNumber } from './dom.js';

const width = 360;
const height = 160;
const margin = { top: 8, right: 8, bottom: 28, left: 40 };

function frame(column, caption, description, kind, content) {
  return h('figure', { class: 'chart', dataset: { chart: kind, column } },
    h('figcaption', null, caption),
    s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': description }, content));
}

function yAxis(max) {
  const plotHeight = height - margin.top - margin.bottom;
  return [
    s('line', { class: 'axis', x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + plotHeight }),
    s('line', { class: 'axis', x1: margin.left, x2: width - margin.right, y1: margin.top + plotHeight, y2: margin.top + plotHeight }),
    s('text', { x: margin.left - 4, y: margin.top + 8, 'text-anchor': 'end' }, formatNumber(max, 3)),
    s('text', { x: margin.left - 4, y: margin.top + plotHeight, 'text-anchor': 'end' }, '0'),
  ];
}

/** numpy-style histogram: counts[i] for [edges[i], edges[i+1]). */
export function histogram(column, counts, edges) {
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const max = Math.max(1, ...counts);
  const step = plotWidth / counts.length;
  const bars = counts.map((count, i) => {
    const barHeight = (count / max) * plotHeight;
    return s('rect', {
      class: 'bar', x: margin.left + i * step + 1, y: margin.top + plotHeight - barHeight, width: Math.max(1, step - 2), height: barHeight,
      dataset: { count },
    }, s('title', null, `${formatNumber(edges[i])} to ${formatNumber(edges[i + 1])}: ${count}`));
  });
  const labels = [
    s('text', { x: margin.left, y: height - 10, 'text-anchor': 'start' }, formatNumber(edges[0])),
    s('text', { x: width - margin.right, y: height - 10, 'text-anchor': 'end' }, formatNumber(edges[edges.length - 1])),
  ];
  return frame(column, `${column}: histogram`, `Histogram of ${column} in ${counts.length} bins from ${formatNumber(edges[0])} to `
    + `${formatNumber(edges[edges.length - 1])}; the tallest bin holds ${max} values.`, 'histogram', [yAxis(max), bars, labels]);
}

/** Horizontal bars of the most frequent values, as the API lists them (most frequent first). */
export function topValues(column, values) {
  const entries = Object.entries(values);
  const rowHeight = 14;
  const chartHeight = Math.max(height, margin.top + entries.length * (rowHeight + 2) + 8);
  const labelWidth = 110;
  const plotWidth = width - labelWidth - 50;
  const max = Math.max(1, ...entries.map(([, n]) => n));
  const rows = entries.map(([value, count], i) => {
    const y = margin.top + i * (rowHeight + 2);
    const label = value.length > 18 ? value.slice(0, 17) + '…' : value;
    return [
      s('text', { x: labelWidth - 4, y: y + rowHeight - 3, 'text-anchor': 'end' }, label),
      s('rect', { class: 'bar', x: labelWidth, y, width: Math.max(1, (count / max) * plotWidth), height: rowHeight, dataset: { count } },
        s('title', null, `${value}: ${count}`)),
      s('text', { x: labelWidth + (count / max) * plotWidth + 4, y: y + rowHeight - 3 }, String(count)),
    ];
  });
  const figure = frame(column, `${column}: top values`, `The ${entries.length} most frequent values of ${column}; `
    + entries.slice(0, 3).map(([v, n]) => `${v}: ${n}`).join(', ') + '.', 'top-values', rows);
  const svg = figure.querySelector('svg');
  svg.setAttribute('height', chartHeight);
  svg.setAttribute('viewBox', `0 0 ${width} ${chartHeight}`);
  return figure;
}

/** Category shares in version 1 and version 2, two bars per category. */
export function categoryShares(column, changes, v1, v2) {
  const entries = Object.entries(changes).slice(0, 12);
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const max = Math.max(0.0001, ...entries.flatMap(([, c]) => [c.v1_share, c.v2_share]));
  const step = plotWidth / Math.max(1, entries.length);
  const bars = entries.map(([category, c], i) => {
    const x = margin.left + i * step;
    const barWidth = Math.max(1, step / 2 - 2);
    const h1 = (c.v1_share / max) * plotHeight;
    const h2 = (c.v2_share / max) * plotHeight;
    return [
      s('rect', { class: 'bar v1', x: x + 1, y: margin.top + plotHeight - h1, width: barWidth, height: h1 },
        s('title', null, `${category}, version ${v1}: ${(c.v1_share * 100).toFixed(1)}%`)),
      s('rect', { class: 'bar v2', x: x + 1 + barWidth, y: margin.top + plotHeight - h2, width: barWidth, height: h2 },
        s('title', null, `${category}, version ${v2}: ${(c.v2_share * 100).toFixed(1)}%`)),
      s('text', { x: x + step / 2, y: height - 10, 'text-anchor': 'middle' }, category.length > 8 ? category.slice(0, 7) + '…' : category),
    ];
  });
  return frame(column, `${column}: share per category, version ${v1} and ${v2}`,
    `Share of each category of ${column} in version ${v1} and version ${v2}.`, 'category-shares', [yAxis(max), bars]);
}
