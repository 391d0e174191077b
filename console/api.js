// The admin API client. The token lives in sessionStorage only (gone when
// the tab closes) and goes out as `Authorization: Bearer`; it is never put
// in a URL, a cookie or localStorage.

const TOKEN = 'moat.token';
const SESSION = 'moat.session';

/** An error from the admin API, with the problem details when there are any. */
export class ApiError extends Error {
  constructor(status, problem) {
    const title = problem && (problem.detail || problem.title);
    super(title ? `${title} (${status})` : `The admin API answered ${status}.`);
    this.status = status;
    this.problem = problem;
  }
}

/** Called with no arguments when the API refuses the stored token. */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

/** The stored session: `{name, role}`, or null. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || 'null');
  } catch {
    return null;
  }
}

export function isOperator() {
  const s = session();
  return !!s && s.role === 'operator';
}

export function logout() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(SESSION);
}

/**
 * Checks `candidate` with `GET /admin/session`; keeps it when the API
 * accepts it. Returns the session, or throws an ApiError.
 */
export async function login(candidate) {
  const s = await request('GET', '/admin/session', undefined, candidate, false);
  sessionStorage.setItem(TOKEN, candidate);
  sessionStorage.setItem(SESSION, JSON.stringify({ name: s.name, role: s.role }));
  return s;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function headers(t = token()) {
  return { Authorization: `Bearer ${t}`, Accept: 'application/json' };
}

async function request(method, path, body, t = token(), handle401 = true) {
  const init = { method, headers: headers(t), cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    if (res.status === 401 && handle401) onUnauthorized();
    throw new ApiError(res.status, data);
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);

/** Tells the caller that the stream answered 401 (the handler logs out). */
export function unauthorized() {
  onUnauthorized();
}
