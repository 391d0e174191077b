// One event with every field. Values are shown as text: evidence and paths
// are attacker-chosen.

import * as api from './api.js';
import { h, time } from './dom.js';
import { FIELDS } from './model.js';

export const title = 'Event';

export async function render(main, [id]) {
  const back = h('p', {}, h('a', { href: '#/events', 'data-test': 'detail-back', text: '← Back to events' }));
  main.append(back);
  const e = await api.get(`/admin/events/${encodeURIComponent(id)}`);
  const known = new Set(FIELDS.map(([k]) => k));
  const rows = [];
  const item = (key, label, value) => {
    rows.push(h('div', { class: 'pair', 'data-test': `detail-${key}` },
      h('dt', { text: label }),
      h('dd', {}, key === 'time' ? time(value) : typeof value === 'object' ? JSON.stringify(value) : String(value))));
  };
  for (const [k, label] of FIELDS) if (e[k] !== undefined && e[k] !== null) item(k, label, e[k]);
  // Fields added to the API later are shown too, under their own names.
  for (const [k, v] of Object.entries(e)) if (!known.has(k) && v !== undefined && v !== null) item(k, k, v);
  main.append(
    h('h1', { 'data-test': 'detail-title', text: `${e.kind || e.control || 'Event'} ${e.severity ? `(${e.severity})` : ''}`.trim() }),
    h('dl', { class: 'detail', 'data-test': 'event-detail' }, rows));
}
