// Inventory: every documented operation with its protection and traffic,
// the shadow endpoints (undocumented paths) seen, and the operations
// captured from traffic (discovery.capture) with their shapes.

import * as api from './api.js';
import { h, num, time, table, emptyRow } from './dom.js';

export const title = 'Inventory';

export async function render(main) {
  main.append(h('h1', { text: 'Inventory' }));
  const [inv, disc] = await Promise.all([api.get('/admin/inventory'), api.get('/admin/discovery')]);
  const ops = inv.operations || [];
  const shadow = inv.shadow || [];
  const found = disc.operations || [];
  main.append(
    table('Operations', ['API', 'Operation', 'Method', 'Path', 'Auth', 'Scopes', 'Requests', 'Denials', 'Last seen', 'Flags', 'Risk'],
      ops.length ? ops.map((o) => h('tr', { 'data-test': 'inventory-row', 'data-operation': o.operation || '' },
        h('td', { text: o.api }),
        h('td', { text: o.operation || '—' }),
        h('td', { text: o.method }),
        h('td', { class: 'path', text: o.path }),
        h('td', { class: o.auth === 'none' ? 'warn' : '', text: o.auth }),
        h('td', { text: (o.scopes || []).join(', ') || '—' }),
        h('td', { class: 'n', text: num(o.requests) }),
        h('td', { class: 'n', text: num(o.denials) }),
        h('td', {}, time(o.last_seen)),
        h('td', {}, (o.flags || []).map((f) => h('span', { class: `badge flag-${f}`, text: f }))),
        h('td', {}, riskBadge(o, 'inventory-risk')),
      )) : emptyRow(11, 'No operations.'),
      { 'data-test': 'inventory-operations' }),
    table('Shadow endpoints seen (not in any API document)', ['API', 'Method', 'Path', 'Requests', 'Last seen'],
      shadow.length ? shadow.map((s) => h('tr', { 'data-test': 'shadow-row' },
        h('td', { text: s.api || '—' }),
        h('td', { text: s.method }),
        h('td', { class: 'path', text: s.path }),
        h('td', { class: 'n', text: num(s.requests) }),
        h('td', {}, time(s.last_seen)),
      )) : emptyRow(5, 'None seen.'),
      { 'data-test': 'inventory-shadow' }),
    table(disc.enabled ? 'Discovered from traffic (sampled shapes, never values)' : 'Discovered from traffic (capture is off)',
      ['API', 'Method', 'Path', 'Standing', 'Requests', 'Parameters', 'Statuses', 'Auth', 'Sensitive data', 'Last seen', 'Risk'],
      found.length ? found.map((o) => h('tr', { 'data-test': 'discovered-row', 'data-standing': o.standing },
        h('td', { text: o.api }),
        h('td', { text: o.method }),
        h('td', { class: 'path', text: o.path }),
        h('td', {}, h('span', { class: `badge standing-${o.standing}`, text: o.standing })),
        h('td', { class: 'n', text: num(o.requests) }),
        h('td', { text: (o.parameters || []).map((p) => `${p.name}: ${p.schema?.format || p.schema?.type || '?'}`).join(', ') || '—' }),
        h('td', { text: Object.keys(o.statuses || {}).join(', ') || '—' }),
        h('td', { class: o.auth?.none ? 'warn' : '', text: counts(o.auth) }),
        h('td', { class: (o.sensitive || []).length ? 'warn' : '', text: kinds(o.sensitive) }),
        h('td', {}, time(o.last_seen)),
        h('td', {}, riskBadge(o, 'discovered-risk')),
      )) : emptyRow(11, disc.enabled ? 'Nothing captured yet.' : 'Turn on discovery.capture to see it.'),
      { 'data-test': 'inventory-discovered' }));
}

// An operation's risk level and score, with its factors on hover.
function riskBadge(o, test) {
  return h('span', {
    class: `badge risk-${o.risk}`, 'data-test': test,
    title: (o.risk_factors || []).map((f) => `${f.explain} (+${f.weight})`).join('\n') || undefined,
    text: o.risk ? `${o.risk} ${o.risk_score}` : '—',
  });
}

// `basic 2, none 1`.
function counts(byKind) {
  return Object.entries(byKind || {}).map(([k, n]) => `${k} ${num(n)}`).join(', ') || '—';
}

// The kinds of sensitive data seen, each once.
function kinds(findings) {
  return [...new Set((findings || []).map((f) => f.kind))].join(', ') || '—';
}
