// The REST API as the console uses it: the user's key from sessionStorage sent as "Authorization: Bearer <key>" (one of the
// schemes the API accepts), JSON in and out, and every error turned into an ApiError carrying the ProblemDetails' title/detail.

const keyName = 'dp.apiKey';
// The API lives at the gateway's root; the console one level below it (/console/).
const apiRoot = new URL('..', document.baseURI);

export const session = {
  get key() { return sessionStorage.getItem(keyName); },
  signIn(key) { sessionStorage.setItem(keyName, key); },
  signOut() { sessionStorage.removeItem(keyName); },
};

/** An API error: status, and the ProblemDetails' title and detail (or what the response said instead). */
export class ApiError extends Error {
  constructor(status, title, detail, errors) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors || null;
  }
}

export function apiUrl(path, query) {
  const url = new URL(path.replace(/^\//, ''), apiRoot);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  return url;
}

function authHeaders() {
  const key = session.key;
  return key ? { Authorization: 'Bearer ' + key } : {};
}

/** ProblemDetails from a failed response's text (any body: a proxy's HTML page becomes its status line). */
function problemFrom(status, statusText, text) {
  try {
    const problem = JSON.parse(text);
    if (problem && typeof problem === 'object') {
      return new ApiError(status, problem.title || `${status} ${statusText}`, problem.detail || problem.message || '', problem.errors);
    }
  } catch { /* not JSON */ }
  return new ApiError(status, `${status} ${statusText || 'Error'}`, text && text.length < 300 ? text : '');
}

async function request(method, path, { query, json, form } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  let body;
  if (json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  else if (form !== undefined) body = form;
  let response;
  try {
    response = await fetch(apiUrl(path, query), { method, headers, body, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'The service cannot be reached', String(e.message || e));
  }
  const text = await response.text();
  if (!response.ok) throw problemFrom(response.status, response.statusText, text);
  return { body: text ? JSON.parse(text) : null, headers: response.headers };
}

export const api = {
  get: async (path, query) => (await request('GET', path, { query })).body,
  /** GET of a paged list: the items and X-Total-Count. */
  list: async (path, query) => {
    const { body, headers } = await request('GET', path, { query });
    const total = Number(headers.get('X-Total-Count'));
    return { items: body, total: Number.isFinite(total) && headers.has('X-Total-Count') ? total : body.length };
  },
  post: async (path, json) => (await request('POST', path, { json })).body,
};

/**
 * Sends a multipart form with XMLHttpRequest, the one browser API that reports upload progress: onProgress(sent, total)
 * while the body goes out. Resolves with the parsed JSON answer; rejects with an ApiError.
 */
export function upload(method, path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, apiUrl(path));
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', e => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { resolve(JSON.parse(xhr.responseText)); } catch { resolve(null); }
      } else reject(problemFrom(xhr.status, xhr.statusText, xhr.responseText));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'The upload was cut off', 'The connection closed before the service answered.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'Upload cancelled', '')));
    xhr.send(form);
  });
}
