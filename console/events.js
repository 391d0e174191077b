// Events: the stored security events, newest first, filtered; older pages on
// demand; new events arrive live from /admin/events/stream.

import * as api from './api.js';
import { follow } from './sse.js';
import { h, time, field, select, table, emptyRow, replace, errorBox, announce } from './dom.js';
import { CONTROLS, SEVERITIES, ACTIONS } from './model.js';

export const title = 'Events';

const FILTERS = 'moat.events.filters';
const PAGE = 100;
const MAX_ROWS = 2000;
const COLUMNS = ['Time', 'Severity', 'Action', 'Control', 'Kind', 'Operation', 'Consumer', 'Address', 'Request', 'Status'];

export function render(main, _params, signal) {
  const saved = loadFilters();
  const inputs = {
    since: h('input', { type: 'datetime-local', name: 'since', step: 1, value: saved.since || '', 'data-test': 'filter-since' }),
    until: h('input', { type: 'datetime-local', name: 'until', step: 1, value: saved.until || '', 'data-test': 'filter-until' }),
    api: h('input', { type: 'text', name: 'api', value: saved.api || '', 'data-test': 'filter-api' }),
    operation: h('input', { type: 'text', name: 'operation', value: saved.operation || '', 'data-test': 'filter-operation' }),
    consumer: h('input', { type: 'text', name: 'consumer', value: saved.consumer || '', 'data-test': 'filter-consumer' }),
    client: h('input', { type: 'text', name: 'client', value: saved.client || '', 'data-test': 'filter-client' }),
    control: select({ name: 'control', 'data-test': 'filter-control' }, [['', 'Any'], ...CONTROLS.map((c) => [c, c])], saved.control || ''),
    severity: select({ name: 'severity', 'data-test': 'filter-severity' }, [['', 'Any'], ...SEVERITIES.map((s) => [s, `${s} or worse`])], saved.severity || ''),
    action: select({ name: 'action', 'data-test': 'filter-action' }, [['', 'Any'], ...ACTIONS.map((a) => [a, a])], saved.action || ''),
  };
  const live = h('input', { type: 'checkbox', name: 'live', checked: saved.live !== false, 'data-test': 'events-live' });
  const liveState = h('span', { class: 'live-state', 'data-test': 'events-live-state', text: '' });
  const form = h('form', { class: 'filters', 'data-test': 'events-filters', 'aria-label': 'Event filters' },
    field('From', inputs.since), field('Until', inputs.until),
    field('API', inputs.api), field('Operation', inputs.operation),
    field('Consumer', inputs.consumer), field('Address', inputs.client),
    field('Control', inputs.control), field('Severity', inputs.severity), field('Action', inputs.action),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', 'data-test': 'filters-apply', text: 'Apply' }),
      h('button', { type: 'reset', class: 'secondary', 'data-test': 'filters-reset', text: 'Clear' })));
  const tbody = h('tbody', { 'data-test': 'events-body' });
  const older = h('button', { type: 'button', class: 'secondary', 'data-test': 'events-older', hidden: true, text: 'Load older' });
  const errors = h('div', {});
  // On a phone the filters start folded away, so the events come first.
  const narrow = window.matchMedia('(max-width: 600px)').matches;
  main.append(
    h('div', { class: 'view-head' }, h('h1', { text: 'Events' }),
      h('div', { class: 'live' }, h('label', {}, live, ' Live updates'), liveState)),
    h('details', { class: 'filter-box', open: !narrow, 'data-test': 'filters-toggle' }, h('summary', { text: 'Filters' }), form),
    errors,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'events', 'data-test': 'events-table' },
        h('caption', { text: 'Security events, newest first. Select a row to see every field.' }),
        h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col', text: c })))),
        tbody)),
    h('div', { class: 'actions' }, older));

  let run = null; // aborts the current listing's stream
  let next = null;
  let newest = null;
  const shown = new Set();
  signal.addEventListener('abort', () => run && run.abort());

  const filters = () => {
    const f = {};
    for (const [k, el] of Object.entries(inputs)) {
      if (k === 'since' || k === 'until') {
        const ms = el.value ? new Date(el.value).getTime() : NaN;
        if (!Number.isNaN(ms)) f[k] = ms;
      } else if (el.value.trim()) f[k] = el.value.trim();
    }
    return f;
  };

  const add = (events, where) => {
    const rows = [];
    for (const e of events) {
      if (shown.has(e.seq)) continue;
      shown.add(e.seq);
      rows.push(row(e));
      if (newest === null || e.seq > newest) newest = e.seq;
    }
    const empty = tbody.querySelector('[data-empty]');
    if (empty && rows.length) empty.remove();
    if (where === 'top') tbody.prepend(...rows);
    else tbody.append(...rows);
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
    return rows.length;
  };

  const list = async () => {
    if (run) run.abort();
    run = new AbortController();
    const mine = run.signal;
    saveFilters(inputs, live.checked);
    replace(errors);
    replace(tbody);
    shown.clear();
    newest = null;
    next = null;
    older.hidden = true;
    const f = filters();
    try {
      const page = await api.get(`/admin/events${api.query({ ...f, limit: PAGE })}`);
      if (mine.aborted) return;
      add(page.events || [], 'bottom');
      next = page.next ?? null;
      older.hidden = next === null;
      if (!tbody.rows.length) {
        const empty = emptyRow(COLUMNS.length, 'No events match.');
        empty.setAttribute('data-empty', '');
        tbody.append(empty);
      }
      announce(`${tbody.querySelectorAll('[data-test="event-row"]').length} events`);
    } catch (err) {
      if (!mine.aborted) errors.append(errorBox(err));
      return;
    }
    if (live.checked && f.until === undefined) stream(f, mine);
    else liveState.textContent = live.checked ? 'paused while "Until" is set' : '';
  };

  const stream = (f, mine) => {
    const q = { ...f };
    delete q.since;
    // Resume after the newest event listed. With none listed and no start
    // time, nothing matching exists yet: start from the beginning, so an
    // event stored between the listing and the connection is not missed.
    if (newest !== null) q.after = newest;
    else if (f.since === undefined) q.after = 0;
    liveState.textContent = 'connecting…';
    follow(`/admin/events/stream${api.query(q)}`, api.headers(), mine,
      (m) => {
        if (m.event !== 'security-event') return;
        let e;
        try {
          e = JSON.parse(m.data);
        } catch {
          return;
        }
        if (add([e], 'top')) announce(`New ${e.severity || ''} event: ${e.kind || e.control || ''}`);
      },
      (state) => {
        liveState.textContent = state;
      })
      .catch((err) => {
        if (err && err.status === 401) api.unauthorized();
        else liveState.textContent = 'stopped';
      });
  };

  older.addEventListener('click', async () => {
    if (next === null) return;
    older.disabled = true;
    try {
      const page = await api.get(`/admin/events${api.query({ ...filters(), before: next, limit: PAGE })}`);
      add(page.events || [], 'bottom');
      next = page.next ?? null;
      older.hidden = next === null;
    } catch (err) {
      errors.append(errorBox(err));
    } finally {
      older.disabled = false;
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    list();
  });
  form.addEventListener('reset', () => {
    // After the browser has cleared the fields.
    setTimeout(list, 0);
  });
  live.addEventListener('change', list);
  return list();
}

function row(e) {
  const open = () => {
    location.hash = `#/events/${encodeURIComponent(e.id)}`;
  };
  const op = [e.api, e.operation].filter(Boolean).join(' · ');
  const req = [e.method, e.path].filter(Boolean).join(' ');
  return h('tr', {
    tabindex: 0, class: `sev-${e.severity || 'info'}`, 'data-test': 'event-row', 'data-id': e.id, 'data-seq': e.seq,
    'aria-label': `${e.severity || ''} ${e.kind || ''} ${op}, open details`,
    onclick: open,
    onkeydown: (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        open();
      }
    },
  },
  // data-label names each cell where the table collapses into cards (phones).
  h('td', { 'data-label': 'Time' }, time(e.time)),
  h('td', { 'data-label': 'Severity' }, h('span', { class: `badge sev-${e.severity || 'info'}`, 'data-test': 'event-severity', text: e.severity || '—' })),
  h('td', { 'data-label': 'Action', 'data-test': 'event-action', text: e.action || '—' }),
  h('td', { 'data-label': 'Control', 'data-test': 'event-control', text: e.control || '—' }),
  // A summary of coalesced repeats says how many events it stands for.
  h('td', { 'data-label': 'Kind', 'data-test': 'event-kind', text: ([e.kind, e.rule].filter(Boolean).join(' / ') || '—') + (e.repeats ? ` ×${e.repeats + 1}` : '') }),
  h('td', { 'data-label': 'Operation', text: op || '—' }),
  h('td', { 'data-label': 'Consumer', text: e.consumer || '—' }),
  h('td', { 'data-label': 'Address', text: e.client || '—' }),
  h('td', { 'data-label': 'Request', class: 'path', 'data-test': 'event-path', text: req || '—' }),
  h('td', { 'data-label': 'Status', text: e.status ?? '—' }));
}

function loadFilters() {
  try {
    return JSON.parse(sessionStorage.getItem(FILTERS) || '{}') || {};
  } catch {
    return {};
  }
}

function saveFilters(inputs, live) {
  const f = { live };
  for (const [k, el] of Object.entries(inputs)) f[k] = el.value;
  sessionStorage.setItem(FILTERS, JSON.stringify(f));
}
