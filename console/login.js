// Login: the admin token is typed here, checked with GET /admin/session and
// kept in sessionStorage only.

import * as api from './api.js';
import { h, field } from './dom.js';

export const title = 'Log in';

export function render(main) {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false', 'data-test': 'login-token' });
  const message = h('p', { class: 'error', role: 'alert', 'data-test': 'login-error', hidden: true });
  const notice = sessionStorage.getItem('moat.notice');
  sessionStorage.removeItem('moat.notice');
  const submit = h('button', { type: 'submit', 'data-test': 'login-submit', text: 'Log in' });
  const form = h('form', { class: 'login', 'data-test': 'login-form' },
    h('h1', { text: 'moat console' }),
    notice ? h('p', { class: 'notice', text: notice }) : null,
    field('Admin token', input, 'Kept in this browser tab only, until you log out or close the tab.'),
    message,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    message.hidden = true;
    submit.disabled = true;
    try {
      await api.login(input.value.trim());
      input.value = '';
      location.replace('#/overview');
    } catch (err) {
      message.textContent = err.status === 401 || err.status === 403
        ? 'The token was refused.'
        : `Could not log in: ${err.message}`;
      message.hidden = false;
      input.focus();
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  input.focus();
}
