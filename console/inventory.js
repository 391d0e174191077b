// Inventory: every documented operation with its protection and traffic,
// and the shadow endpoints (undocumented paths) seen.

import * as api from './api.js';
import { h, num, time, table, emptyRow } from './dom.js';

export const title = 'Inventory';

export async function render(main) {
  main.append(h('h1', { text: 'Inventory' }));
  const inv = await api.get('/admin/inventory');
  const ops = inv.operations || [];
  const shadow = inv.shadow || [];
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
        h('td', {}, h('span', {
          class: `badge risk-${o.risk}`, 'data-test': 'inventory-risk',
          title: (o.risk_factors || []).map((f) => `${f.explain} (+${f.weight})`).join('\n') || undefined,
          text: o.risk ? `${o.risk} ${o.risk_score}` : '—',
        })),
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
      { 'data-test': 'inventory-shadow' }));
}
