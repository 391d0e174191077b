// Modal dialogs on the native <dialog> element (focus is trapped and Escape
// closes it): a confirmation, and the one-time display of a new key.

import { h } from './dom.js';

/** Asks `question`; resolves true when the user confirms. */
export function confirm(question, action) {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: 'danger', 'data-test': 'confirm-ok', text: action });
    const cancel = h('button', { type: 'button', class: 'secondary', 'data-test': 'confirm-cancel', text: 'Cancel' });
    const d = h('dialog', { 'data-test': 'confirm-dialog', 'aria-labelledby': 'confirm-q' },
      h('p', { id: 'confirm-q', text: question }),
      h('div', { class: 'actions' }, cancel, ok));
    const done = (v) => {
      d.close();
      d.remove();
      resolve(v);
    };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    d.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(d);
    d.showModal();
    cancel.focus();
  });
}

/** Shows a newly issued key once, with a copy button. Resolves when closed. */
export function showKey(heading, key, record) {
  return new Promise((resolve) => {
    const value = h('input', { type: 'text', readonly: true, value: key, 'data-test': 'new-key', 'aria-label': 'The new key', spellcheck: 'false', autocomplete: 'off' });
    const copied = h('span', { role: 'status', 'data-test': 'copy-status' });
    const copy = h('button', { type: 'button', 'data-test': 'copy-key', text: 'Copy' });
    const close = h('button', { type: 'button', class: 'secondary', 'data-test': 'key-dialog-close', text: 'I have stored it — close' });
    const d = h('dialog', { 'data-test': 'key-dialog', 'aria-labelledby': 'key-h' },
      h('h2', { id: 'key-h', text: heading }),
      h('p', { class: 'notice', 'data-test': 'key-warning', text: 'This is the only time the key is shown. moat keeps only a hash of it: copy it now and store it somewhere safe.' }),
      h('p', {}, 'Key id ', h('span', { class: 'mono', 'data-test': 'new-key-id', text: record.key_id }), ` for consumer ${record.consumer}.`),
      h('div', { class: 'copy-row' }, value, copy),
      copied,
      h('div', { class: 'actions' }, close));
    copy.addEventListener('click', async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(key);
        copied.textContent = 'Copied.';
      } catch {
        copied.textContent = 'Copy failed: the key is selected, press Ctrl+C.';
      }
    });
    const done = () => {
      value.value = '';
      d.close();
      d.remove();
      resolve();
    };
    close.addEventListener('click', done);
    d.addEventListener('cancel', (e) => {
      e.preventDefault();
      done();
    });
    document.body.append(d);
    d.showModal();
    value.select();
  });
}
