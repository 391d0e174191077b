// The console's entry point: the router (hash routes, so the static files
// need no server-side routing), the page frame and the session.

import * as api from './api.js';
import { h, replace, errorBox } from './dom.js';
import * as login from './login.js';
import * as overview from './overview.js';
import * as events from './events.js';
import * as detail from './detail.js';
import * as inventory from './inventory.js';
import * as keys from './keys.js';
import * as bans from './bans.js';

// Route patterns → views. Each view exports `title` and
// `render(main, params, signal)`; `signal` aborts when the view is left
// (streams, timers and pending requests stop).
const routes = [
  [/^\/login$/, login],
  [/^\/overview$/, overview],
  [/^\/events$/, events],
  [/^\/events\/([^/]+)$/, detail],
  [/^\/inventory$/, inventory],
  [/^\/keys$/, keys],
  [/^\/bans$/, bans],
];

let current = null;

function parse() {
  const hash = decodeURIComponent(location.hash.replace(/^#/, '')) || '/overview';
  return hash.startsWith('/') ? hash : `/${hash}`;
}

/** Navigates to `path` (e.g. `/events/abc`). */
export function go(path) {
  if (parse() === path) route();
  else location.hash = `#${path}`;
}

function frame(signedIn) {
  const nav = document.querySelector('[data-test="nav"]');
  const sess = document.querySelector('[data-test="session"]');
  nav.hidden = !signedIn;
  sess.hidden = !signedIn;
  if (signedIn) {
    const s = api.session();
    document.querySelector('[data-test="session-name"]').textContent = s ? `${s.name} (${s.role})` : '';
  }
}

function markCurrent(path) {
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    if (path === target || path.startsWith(`${target}/`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  let path = parse();
  if (!api.token() && path !== '/login') {
    location.replace('#/login');
    return;
  }
  if (api.token() && path === '/login') path = '/overview';
  const found = routes.find(([re]) => re.test(path));
  const main = document.getElementById('main');
  frame(!!api.token());
  markCurrent(path);
  if (!found) {
    document.title = 'Not found · moat console';
    replace(main, h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '#/overview', text: 'Go to the overview' })));
    return;
  }
  const [re, view] = found;
  const params = re.exec(path).slice(1);
  document.title = `${view.title} · moat console`;
  replace(main);
  try {
    await view.render(main, params, signal);
  } catch (e) {
    if (!signal.aborted) main.append(errorBox(e));
  }
}

/** Moves focus to the main region after a navigation, for keyboard users. */
function focusMain() {
  document.getElementById('main').focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

api.setUnauthorizedHandler(() => {
  api.logout();
  sessionStorage.setItem('moat.notice', 'Your session ended: the token was refused. Log in again.');
  location.replace('#/login');
});

// The skip link moves focus without touching the hash (the hash is the route).
document.querySelector('[data-test="skip-link"]').addEventListener('click', (e) => {
  e.preventDefault();
  focusMain();
});

document.querySelector('[data-test="logout"]').addEventListener('click', () => {
  api.logout();
  location.replace('#/login');
});

window.addEventListener('hashchange', () => {
  route().then(focusMain);
});
route();
