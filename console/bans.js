// Bans: addresses, networks and consumers refused before anything else;
// add one, lift one. Changing bans needs the operator role.

import * as api from './api.js';
import { h, field, select, table, emptyRow, replace, announce, operatorAction, timeSeconds as banTime } from './dom.js';
import { confirm } from './dialogs.js';

export const title = 'Bans';

// Networks are addresses with a prefix length: `address:203.0.113.0/24`.
const KINDS = [['address', 'Address or network'], ['consumer', 'Consumer']];
const DURATIONS = [['', 'Permanent'], ['15m', '15 minutes'], ['1h', '1 hour'], ['24h', '24 hours'], ['7d', '7 days'], ['30d', '30 days']];

export async function render(main, _params, signal) {
  const operator = api.isOperator();
  const messages = h('div', {});
  const listBox = h('div', {});
  main.append(h('h1', { text: 'Bans' }), messages);

  const reload = async () => {
    const b = await api.get('/admin/bans');
    if (!signal.aborted) show(listBox, b.bans || [], operator, act);
  };
  const act = operatorAction(messages, reload);

  if (operator) main.append(addForm(act));
  else main.append(h('p', { class: 'muted', text: 'Your role is viewer: adding and lifting bans needs an operator token.' }));
  main.append(listBox);
  await reload();
}

function addForm(act) {
  const kind = select({ name: 'kind', 'data-test': 'ban-kind' }, KINDS, 'address');
  const value = h('input', { type: 'text', name: 'subject', required: true, autocomplete: 'off', 'data-test': 'ban-subject' });
  const reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off', 'data-test': 'ban-reason' });
  const duration = select({ name: 'duration', 'data-test': 'ban-duration' }, DURATIONS, '1h');
  const form = h('form', { class: 'inline-form', 'data-test': 'ban-form', 'aria-labelledby': 'ban-h' },
    h('h2', { id: 'ban-h', text: 'Add a ban' }),
    field('Kind', kind),
    field('Subject', value, 'e.g. 203.0.113.7, 203.0.113.0/24, or a consumer id'),
    field('Reason', reason),
    field('Duration', duration),
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-test': 'ban-add', text: 'Add ban' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { subject: `${kind.value}:${value.value.trim()}` };
    if (reason.value.trim()) body.reason = reason.value.trim();
    if (duration.value) body.duration = duration.value;
    act(async () => {
      await api.post('/admin/bans', body);
      form.reset();
      announce(`Banned ${body.subject}.`);
    });
  });
  return form;
}

function show(box, bans, operator, act) {
  const headers = ['Subject', 'Reason', 'Source', 'Refuses', 'Since', 'Until'];
  if (operator) headers.push('Actions');
  replace(box, table('Active bans', headers,
    bans.length ? bans.map((b) => h('tr', { 'data-test': 'ban-row', 'data-subject': b.subject },
      h('td', { class: 'mono', text: b.subject }),
      h('td', { text: b.reason || '—' }),
      h('td', { text: b.source || '—' }),
      h('td', { text: b.reach || '—' }),
      h('td', {}, banTime(b.created_at)),
      h('td', {}, b.expires_at ? banTime(b.expires_at) : 'permanent'),
      operator ? h('td', {}, h('button', { type: 'button', class: 'secondary', 'data-test': 'ban-lift', 'aria-label': `Lift the ban on ${b.subject}`, text: 'Lift',
        onclick: async () => {
          if (!await confirm(`Lift the ban on ${b.subject}?`, 'Lift ban')) return;
          act(async () => {
            const r = await api.post('/admin/bans/lift', { subject: b.subject });
            announce(r && r.lifted ? `Lifted the ban on ${b.subject}.` : `${b.subject} was not banned.`);
          });
        } })) : null)) : emptyRow(headers.length, 'No active bans.'),
    { 'data-test': 'bans-table' }));
}
