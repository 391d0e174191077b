// Small SVG charts, no library: stacked bars over time with a legend and a
// text alternative. Colours come from CSS classes (`series-<n>`), so the
// charts follow the stylesheet and need no inline styles.

import { h, svg } from './dom.js';

const W = 640;
const H = 200;
const PAD = { top: 10, right: 10, bottom: 24, left: 44 };

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/**
 * A stacked bar chart.
 * - `buckets`: [{start: ms, values: {key: n}}], oldest first
 * - `keys`: [{key, label}] in stacking order (bottom first)
 * - `label`: the chart's accessible name
 */
export function stackedBars({ buckets, keys, label, test, palette = 0 }) {
  const colour = (i) => `series-${(palette + i) % 8}`;
  const totals = buckets.map((b) => keys.reduce((s, k) => s + (b.values[k.key] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = buckets.length > 0 ? plotW / buckets.length : plotW;
  const barW = Math.max(1, step * 0.8);
  const y = (v) => PAD.top + plotH - (max > 0 ? (v / max) * plotH : 0);

  const g = svg('g');
  // Grid lines and y-axis labels at 0, ½ and the top.
  for (const v of [0, max / 2, max]) {
    g.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    g.append(svg('text', { x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, formatCount(v)));
  }
  buckets.forEach((b, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    let acc = 0;
    const parts = [];
    keys.forEach((k, ki) => {
      const v = b.values[k.key] || 0;
      if (v <= 0) return;
      const top = y(acc + v);
      const bottom = y(acc);
      acc += v;
      parts.push(`${k.label} ${v}`);
      g.append(svg('rect', { x, y: top, width: barW, height: Math.max(0.5, bottom - top), class: colour(ki) }));
    });
    // One invisible hit area per bucket carries the tooltip for the whole bar.
    g.append(svg('rect', { x: PAD.left + i * step, y: PAD.top, width: step, height: plotH, class: 'hit' },
      svg('title', {}, `${clock.format(new Date(b.start))}: ${parts.length ? parts.join(', ') : 'none'}`)));
  });
  // Time labels: first, middle and last bucket.
  const marks = buckets.length > 2 ? [0, Math.floor(buckets.length / 2), buckets.length - 1] : buckets.map((_, i) => i);
  marks.forEach((i, n) => {
    const anchor = marks.length > 1 && n === 0 ? 'start' : n === marks.length - 1 && marks.length > 1 ? 'end' : 'middle';
    const x = anchor === 'start' ? PAD.left + i * step : anchor === 'end' ? PAD.left + (i + 1) * step : PAD.left + i * step + step / 2;
    g.append(svg('text', { x, y: H - 6, class: 'axis', 'text-anchor': anchor }, clock.format(new Date(buckets[i].start))));
  });
  const total = totals.reduce((a, b) => a + b, 0);
  const summary = keys.map((k) => `${k.label} ${buckets.reduce((s, b) => s + (b.values[k.key] || 0), 0)}`).join(', ');
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: ${total ? summary : 'nothing in this window'}`, class: 'chart' }, g);
  const legend = h('ul', { class: 'legend' }, keys.map((k, ki) => h('li', {}, h('span', { class: `swatch ${colour(ki)}`, 'aria-hidden': 'true' }), k.label)));
  return h('figure', { class: 'chart-figure', 'data-test': test },
    h('figcaption', { text: label }),
    chart,
    legend,
    total === 0 ? h('p', { class: 'muted', text: 'Nothing in this window.' }) : null);
}

/** The smallest 1/2/5×10ⁿ at or above `v` (at least 1). */
function niceMax(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function formatCount(v) {
  return Number.isInteger(v) ? v.toLocaleString() : v.toFixed(1);
}
