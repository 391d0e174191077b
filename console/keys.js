// Consumers and their API keys: list, create (the key is shown once),
// rotate, revoke. Changing keys needs the operator role.

import * as api from './api.js';
import { h, timeSeconds, field, select, table, emptyRow, replace, announce, operatorAction } from './dom.js';
import { confirm, showKey } from './dialogs.js';

export const title = 'Consumers and keys';

const EXPIRY = [['', 'Never'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days'], ['365d', '1 year']];
// How long a rotated key keeps working beside its successor.
const ROTATE_GRACE = '1h';

export async function render(main, _params, signal) {
  const operator = api.isOperator();
  const consumersBox = h('div', {});
  const keysBox = h('div', {});
  const messages = h('div', {});
  main.append(h('h1', { text: 'Consumers and keys' }), messages);

  const reload = async () => {
    const [c, k] = await Promise.all([api.get('/admin/consumers'), api.get('/admin/keys')]);
    if (signal.aborted) return;
    showConsumers(consumersBox, c.consumers || []);
    showKeys(keysBox, k.keys || [], operator, act);
    if (operator) fillConsumers(c.consumers || []);
  };

  const act = operatorAction(messages, reload);

  const consumerList = h('datalist', { id: 'consumer-ids' });
  const fillConsumers = (list) => replace(consumerList, list.map((c) => h('option', { value: c.id })));
  if (operator) main.append(createForm(consumerList, act));
  else main.append(h('p', { class: 'muted', text: 'Your role is viewer: creating, rotating and revoking keys needs an operator token.' }));
  main.append(consumersBox, keysBox);
  await reload();
}

function createForm(consumerList, act) {
  const consumer = h('input', { type: 'text', name: 'consumer', required: true, list: 'consumer-ids', autocomplete: 'off', 'data-test': 'key-consumer' });
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', 'data-test': 'key-name' });
  const scopes = h('input', { type: 'text', name: 'scopes', autocomplete: 'off', 'data-test': 'key-scopes' });
  const expiry = select({ name: 'expires_in', 'data-test': 'key-expiry' }, EXPIRY, '');
  const form = h('form', { class: 'inline-form', 'data-test': 'key-create-form', 'aria-labelledby': 'key-create-h' },
    h('h2', { id: 'key-create-h', text: 'Create a key' }),
    consumerList,
    field('Consumer', consumer),
    field('Name', name, 'Where the key is used, e.g. "ci" or "laptop".'),
    field('Scopes', scopes, 'Separated by spaces or commas.'),
    field('Expires', expiry),
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-test': 'key-create', text: 'Create key' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { consumer: consumer.value.trim() };
    if (name.value.trim()) body.name = name.value.trim();
    const s = scopes.value.split(/[\s,]+/).filter(Boolean);
    if (s.length) body.scopes = s;
    if (expiry.value) body.expires_in = expiry.value;
    act(async () => {
      const r = await api.post('/admin/keys', body);
      form.reset();
      await showKey('New API key', r.key, r.record);
      announce(`Key ${r.record.key_id} created.`);
    });
  });
  return form;
}

function showConsumers(box, consumers) {
  replace(box, table('Consumers', ['Consumer', 'Defined in', 'Keys', 'Roles'],
    consumers.length ? consumers.map((c) => h('tr', { 'data-test': 'consumer-row', 'data-consumer': c.id },
      h('td', { text: c.id }),
      h('td', { text: c.source === 'config' ? 'config' : 'key store' }),
      h('td', { class: 'n', text: c.keys ?? 0 }),
      h('td', { text: (c.roles || []).join(', ') || '—' }))) : emptyRow(4, 'No consumers.'),
    { 'data-test': 'consumers-table' }));
}

function showKeys(box, keys, operator, act) {
  const headers = ['Key id', 'Consumer', 'Name', 'Scopes', 'Created', 'Expires', 'Last used', 'Status'];
  if (operator) headers.push('Actions');
  replace(box, table('API keys', headers,
    keys.length ? keys.map((k) => h('tr', { 'data-test': 'key-row', 'data-key-id': k.key_id, 'data-status': k.status },
      h('td', { class: 'mono', text: k.key_id }),
      h('td', { text: k.consumer }),
      h('td', { text: k.name || '—' }),
      h('td', { text: (k.scopes || []).join(', ') || '—' }),
      h('td', {}, timeSeconds(k.created_at)),
      h('td', {}, timeSeconds(k.expires_at)),
      h('td', {}, timeSeconds(k.last_used_at)),
      h('td', {}, h('span', { class: `badge status-${k.status}`, 'data-test': 'key-status', text: k.status })),
      operator ? h('td', { class: 'row-actions' }, k.status === 'active' ? [
        h('button', { type: 'button', class: 'secondary', 'data-test': 'key-rotate', 'aria-label': `Rotate key ${k.key_id}`, text: 'Rotate',
          onclick: async () => {
            if (!await confirm(`Rotate key ${k.key_id} of ${k.consumer}? A new key is issued; the old one keeps working for ${ROTATE_GRACE}.`, 'Rotate')) return;
            act(async () => {
              const r = await api.post(`/admin/keys/${encodeURIComponent(k.key_id)}/rotate`, { grace: ROTATE_GRACE });
              await showKey('Rotated API key', r.key, r.record);
            });
          } }),
        h('button', { type: 'button', class: 'danger', 'data-test': 'key-revoke', 'aria-label': `Revoke key ${k.key_id}`, text: 'Revoke',
          onclick: async () => {
            if (!await confirm(`Revoke key ${k.key_id} of ${k.consumer}? Requests with it are refused at once. This cannot be undone.`, 'Revoke')) return;
            act(async () => {
              await api.post(`/admin/keys/${encodeURIComponent(k.key_id)}/revoke`);
              announce(`Key ${k.key_id} revoked.`);
            });
          } }),
      ] : null) : null)) : emptyRow(headers.length, 'No keys.'),
    { 'data-test': 'keys-table' }));
}
