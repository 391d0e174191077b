// Overview: requests by outcome and denials by reason over a window, totals,
// and who and what is attacked most. Refreshes itself while shown.

import * as api from './api.js';
import { h, num, replace, select, field, table, emptyRow, errorBox } from './dom.js';
import { stackedBars } from './charts.js';

export const title = 'Overview';

const WINDOWS = [['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours']];
const OUTCOMES = [
  { key: 'allowed', label: 'Allowed' },
  { key: 'monitored', label: 'Monitored' },
  { key: 'flagged', label: 'Flagged' },
  { key: 'denied', label: 'Denied' },
];
const REFRESH_MS = 15000;

export function render(main, _params, signal) {
  const win = sessionStorage.getItem('moat.window') || '1h';
  const chooser = select({ 'data-test': 'overview-window', name: 'window' }, WINDOWS, win);
  const body = h('div', { 'data-test': 'overview', 'aria-busy': 'true' });
  main.append(
    h('div', { class: 'view-head' }, h('h1', { text: 'Overview' }), field('Window', chooser)),
    body);
  const load = async () => {
    try {
      const o = await api.get(`/admin/overview${api.query({ window: chooser.value })}`);
      if (!signal.aborted) show(body, o);
    } catch (e) {
      if (!signal.aborted) replace(body, errorBox(e));
    }
    body.setAttribute('aria-busy', 'false');
  };
  chooser.addEventListener('change', () => {
    sessionStorage.setItem('moat.window', chooser.value);
    load();
  });
  const timer = setInterval(load, REFRESH_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
  return load();
}

function show(body, o) {
  const t = o.totals || {};
  const dropped = t.events_dropped || 0;
  const kinds = [...new Set((o.denials_by_reason || []).flatMap((b) => Object.keys(b.counts || {})))].sort();
  const series = o.series || [];
  const denials = o.denials_by_reason || [];
  const starts = timeline(o.window_ms, o.bucket_ms, [...series, ...denials].map((b) => b.start));
  replace(body,
    h('ul', { class: 'totals', 'data-test': 'totals' },
      total('Requests', t.requests, 'total-requests'),
      total('Denied', t.denied, 'total-denied'),
      total('Security events', t.events, 'total-events'),
      total('Events dropped', dropped, 'total-dropped', dropped > 0 ? 'warn' : '')),
    dropped > 0 ? h('p', { class: 'notice', 'data-test': 'dropped-warning', text: `${num(dropped)} security events were dropped because the event queue was full: the record is incomplete.` }) : null,
    h('div', { class: 'charts' },
      stackedBars({
        test: 'chart-outcomes',
        label: 'Requests by outcome',
        keys: OUTCOMES,
        buckets: fill(starts, series, (b) => b),
      }),
      stackedBars({
        test: 'chart-denials',
        label: 'Denials by reason',
        keys: kinds.map((k) => ({ key: k, label: k })),
        // Denial reasons start at the red of "denied", never the green of "allowed".
        palette: 3,
        buckets: fill(starts, denials, (b) => b.counts || {}),
      })),
    h('div', { class: 'tops' },
      top('Most attacked operations', ['API', 'Operation', 'Events'], o.top_operations, (r) => [r.api, r.operation, num(r.events)], 'top-operations'),
      top('Top offending addresses', ['Address', 'Events'], o.top_clients, (r) => [r.client, num(r.events)], 'top-clients'),
      top('Top offending consumers', ['Consumer', 'Events'], o.top_consumers, (r) => [r.consumer, num(r.events)], 'top-consumers')));
}

/**
 * Every bucket start of the window, oldest first. The API lists only the
 * buckets that had something; the chart shows the quiet ones too, so that
 * its time axis is linear. The window ends at the later of this browser's
 * clock and the newest bucket the server reported.
 */
function timeline(windowMs, bucketMs, seen) {
  if (!(windowMs > 0 && bucketMs > 0)) return [...new Set(seen)].sort((a, b) => a - b);
  const end = Math.max(Math.floor(Date.now() / bucketMs) * bucketMs, ...seen);
  const first = Math.floor((end - windowMs) / bucketMs) * bucketMs;
  const starts = [];
  for (let t = first; t <= end; t += bucketMs) starts.push(t);
  return starts;
}

/** One chart bucket per start, with the values of the API bucket there. */
function fill(starts, buckets, values) {
  const at = new Map(buckets.map((b) => [b.start, values(b)]));
  return starts.map((start) => ({ start, values: at.get(start) || {} }));
}

function total(label, value, test, cls = '') {
  return h('li', { class: `total ${cls}` }, h('span', { class: 'total-label', text: label }), h('span', { class: 'total-value', 'data-test': test, text: num(value || 0) }));
}

function top(caption, headers, rows, cells, test) {
  const list = rows || [];
  return h('section', { class: 'top-list' }, table(caption, headers,
    list.length ? list.map((r) => h('tr', {}, cells(r).map((c) => h('td', { text: c })))) : emptyRow(headers.length, 'None in this window.'),
    { 'data-test': test }));
}
