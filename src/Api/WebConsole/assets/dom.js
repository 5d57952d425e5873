// Building DOM from data without HTML parsing: every value becomes a text node, so nothing a dataset holds can become markup.

const svgNs = 'http://www.w3.org/2000/svg';

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h('p', {class: 'hint'}, 'text', otherNode) */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

/** The same for SVG elements. */
export const s = (tag, attrs, ...children) => build(document.createElementNS(svgNs, tag), attrs, children);

export function clear(element) { element.replaceChildren(); return element; }

/** A problem box: the API's ProblemDetails title and detail, and the fields it names. */
export function problemBox(error, id) {
  const fieldErrors = error && error.errors
    ? h('ul', null, Object.entries(error.errors).map(([field, messages]) => h('li', null, `${field}: ${[].concat(messages).join(' ')}`)))
    : null;
  return h('div', { class: 'problem', role: 'alert', id },
    h('strong', { class: 'problem-title' }, error.title || 'Error'),
    error.detail ? h('span', { class: 'problem-detail' }, error.detail) : null,
    fieldErrors);
}

export function table(columns, rows, attrs) {
  return h('div', { class: 'scroll' },
    h('table', attrs,
      h('thead', null, h('tr', null, columns.map(c => h('th', { scope: 'col' }, c.label)))),
      h('tbody', null, rows.map(row => h('tr', null, columns.map(c => {
        const value = c.value(row);
        return h('td', { class: c.numeric ? 'num' : null }, value instanceof Node ? value : formatValue(value));
      }))))));
}

export function formatValue(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : formatNumber(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function formatNumber(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return '';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Number(value).toPrecision(digits).replace(/\.?0+(e|$)/, '$1');
}

export function formatDate(text) {
  if (!text) return '';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function field(label, input, hint) {
  const id = input.id || (input.id = 'f-' + Math.random().toString(36).slice(2, 9));
  return h('div', { class: input.type === 'checkbox' ? 'field inline' : 'field' },
    input.type === 'checkbox' ? [input, h('label', { for: id }, label)] : [h('label', { for: id }, label), input],
    hint ? h('span', { class: 'hint' }, hint) : null);
}

/** Puts text in the page's polite live region, for screen readers (status changes that happen without focus moving). */
export function announce(text) {
  const announcer = document.getElementById('announcer');
  if (announcer) announcer.textContent = text;
}
