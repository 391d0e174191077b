// DOM helpers. Everything that comes from the API (and so, through events,
// from attackers) reaches the page as text nodes or attribute values, never
// as markup: no HTML string is ever parsed.

/**
 * Builds an element. `attrs` keys are attribute names, except `on*` keys
 * (event listeners) and `text` (text content). Children are nodes or strings
 * (strings become text nodes); null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Like `h`, in the SVG namespace. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A `<time>` in the user's local time, with UTC in its title. `ms`: unix ms. */
export function time(ms) {
  if (ms === undefined || ms === null) return h('span', { class: 'muted', text: '—' });
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return h('span', { text: String(ms) });
  return h('time', { datetime: d.toISOString(), title: `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`, text: local.format(d) });
}

/** A `<time>` for a unix time in seconds. */
export function timeSeconds(s) {
  return s === undefined || s === null ? time(null) : time(s * 1000);
}

/** A number with the user's grouping. */
export function num(n) {
  return typeof n === 'number' ? n.toLocaleString() : '—';
}

/** A labelled control: `<label>` wrapping text and the control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label', text: label }), control, hint ? h('span', { class: 'hint', text: hint }) : null);
}

/** A `<select>` from [value, label] pairs. */
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([v, l]) => h('option', { value: v, selected: v === selected, text: l })));
}

/** A table in a scrolling wrapper, with a caption and header row. */
export function table(caption, headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows)));
}

/** A message row for an empty table. */
export function emptyRow(span, text) {
  return h('tr', {}, h('td', { colspan: span, class: 'muted', text }));
}

/** Announces `text` to screen readers and shows it in the status bar. */
export function announce(text) {
  const s = document.querySelector('[data-test="status"]');
  if (s) s.textContent = text;
}

/** An error box for a failed load or action. */
export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert', 'data-test': 'error', text: err instanceof Error ? err.message : String(err) });
}

// An operator action runner for a view: clears `messages`, runs the
// action, shows its error if any, then reloads the view's lists (showing
// that error too), whatever the action did.
export function operatorAction(messages, reload) {
  return async (f) => {
    replace(messages);
    try {
      await f();
    } catch (e) {
      messages.append(errorBox(e));
    }
    try {
      await reload();
    } catch (e) {
      messages.append(errorBox(e));
    }
  };
}
