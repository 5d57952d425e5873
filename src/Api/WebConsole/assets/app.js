// The console's views, one per hash route: #/repositories, #/repositories/{id}, #/datasets, #/datasets/{id}.
// Every call goes to the public REST API with the user's key; errors show the API's own ProblemDetails.
import { api, session, upload, ApiError } from './api.js';
import { h, clear, problemBox, table, formatNumber, formatDate, field, announce } from './dom.js';
import { histogram, topValues, categoryShares } from './charts.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const listLimit = 1000;
const pollMilliseconds = 700;
// Bumped on every navigation: pollers of a view that is gone see it and stop.
let viewGeneration = 0;

document.getElementById('sign-out').addEventListener('click', () => {
  session.signOut();
  location.hash = '#/sign-in';
});
window.addEventListener('hashchange', route);
route();

async function route() {
  const generation = ++viewGeneration;
  const path = location.hash.replace(/^#/, '') || '/repositories';
  nav.hidden = !session.key;
  if (!session.key || path === '/sign-in') return signInView();
  const parts = path.split('/').filter(Boolean);
  try {
    if (parts[0] === 'repositories' && parts[1]) await repositoryView(parts[1], generation);
    else if (parts[0] === 'datasets' && parts[1]) await datasetView(parts[1], generation);
    else if (parts[0] === 'datasets') await datasetsView(generation);
    else await repositoriesView(generation);
  } catch (error) {
    if (generation !== viewGeneration) return;
    if (error instanceof ApiError && error.status === 401) {
      session.signOut();
      return signInView(error);
    }
    show('Error', h('h1', null, 'Something went wrong'), problemBox(error, 'page-error'));
  }
}

/** Replaces the page; moves focus to it so keyboard and screen-reader users start at the new view's heading. */
function show(title, ...content) {
  document.title = `${title} · DatasetPlatform`;
  clear(main).append(...content.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false));
  main.focus();
}

const isCurrent = generation => generation === viewGeneration;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// ---- sign in ----

function signInView(error) {
  nav.hidden = true;
  const key = h('input', { type: 'password', id: 'api-key', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('div', { id: 'signin-status', 'aria-live': 'polite' }, error ? problemBox(error, 'signin-error') : null);
  const button = h('button', { type: 'submit', id: 'sign-in' }, 'Sign in');
  const form = h('form', { id: 'signin-form', novalidate: true, onsubmit: async event => {
    event.preventDefault();
    const value = key.value.trim();
    if (!value) {
      status.replaceChildren(problemBox({ title: 'An API key is required', detail: 'Paste the key the service gave you (run.sh prints the first one).' }, 'signin-error'));
      return key.focus();
    }
    button.disabled = true;
    status.replaceChildren(h('p', null, 'Checking the key…'));
    session.signIn(value);
    try {
      await api.list('/repositories', { limit: 1 });
      location.hash = '#/repositories';
      if (location.hash === '#/repositories') route();
    } catch (e) {
      session.signOut();
      status.replaceChildren(problemBox(e, 'signin-error'));
      key.focus();
    } finally { button.disabled = false; }
  } },
  field('API key', key, 'Kept in this browser tab only (sessionStorage) and sent with each request as "Authorization: Bearer".'),
  button, status);
  show('Sign in', h('h1', null, 'Sign in'), form);
  key.focus();
}

// ---- lists with a search box ----

/**
 * A table with a search box over a list the API pages: `load(search)` asks the API (its `search` parameter, the same list
 * route without one), so a search finds every match, not only those of the first page. Shown: the first page of the answer
 * (the server's page size, DP_PAGE_SIZE) and how many there are in all (X-Total-Count).
 */
function searchable(name, label, first, load, columns) {
  const input = h('input', { type: 'search', id: `${name}-search`, autocomplete: 'off' });
  const count = h('p', { class: 'hint', id: `${name}-count`, 'aria-live': 'polite' });
  const holder = h('div');
  const render = ({ items, total }) => {
    holder.replaceChildren(items.length ? table(columns, items, { id: `${name}-table` }) : h('p', { id: `${name}-empty` }, 'Nothing matches.'));
    count.textContent = `${items.length} of ${total}` + (total > items.length ? ` (the first ${items.length} shown)` : '');
  };
  // Typing sends one request per pause; an answer that comes after a newer one was asked for is dropped.
  let asked = 0;
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++asked;
      try {
        const page = await load(input.value.trim());
        if (mine === asked) render(page);
      } catch (e) {
        if (mine === asked) holder.replaceChildren(problemBox(e));
      }
    }, 200);
  });
  render(first);
  return [h('div', { role: 'search' }, field(label, input)), count, holder];
}

async function repositoriesView(generation) {
  const load = search => api.list('/repositories', { search });
  const first = await load('');
  if (!isCurrent(generation)) return;
  const columns = [
    { label: 'Name', value: r => h('a', { href: `#/repositories/${r.id}` }, r.name) },
    { label: 'Description', value: r => r.description },
    { label: 'Privacy', value: r => r.privacy },
    { label: 'Your role', value: r => r.permission },
    { label: 'Created', value: r => formatDate(r.createdAt) },
  ];
  show('Repositories', h('h1', null, 'Repositories'),
    searchable('repositories', 'Search repositories', first, load, columns),
    createRepositoryForm());
}

function createRepositoryForm() {
  const name = h('input', { type: 'text', id: 'repository-name', required: true });
  const description = h('input', { type: 'text', id: 'repository-description' });
  const privacy = h('select', { id: 'repository-privacy' }, h('option', { value: 'Private' }, 'Private'), h('option', { value: 'Public' }, 'Public'));
  const status = h('div', { 'aria-live': 'polite' });
  return h('form', { id: 'create-repository', onsubmit: async event => {
    event.preventDefault();
    try {
      const created = await api.post('/repositories', { name: name.value, description: description.value, privacy: privacy.value });
      location.hash = `#/repositories/${created.id}`;
    } catch (e) { status.replaceChildren(problemBox(e)); }
  } }, h('h2', null, 'New repository'), h('div', { class: 'row' }, field('Name', name), field('Description', description), field('Privacy', privacy),
    h('button', { type: 'submit' }, 'Create repository')), status);
}

function datasetColumns(repositoryNames) {
  return [
    { label: 'Name', value: d => h('a', { href: `#/datasets/${d.id}` }, d.name) },
    repositoryNames ? { label: 'Repository', value: d => repositoryNames.get(d.repositoryId) ?? String(d.repositoryId) } : null,
    { label: 'Description', value: d => d.description },
    { label: 'Mode', value: d => d.mode },
    { label: 'Version', value: d => d.currentVersion, numeric: true },
    { label: 'Values', value: d => d.total_datapoint_count, numeric: true },
    { label: 'Updated', value: d => formatDate(d.updatedAt) },
  ].filter(Boolean);
}

async function datasetsView(generation) {
  const load = search => api.list('/datasets', { search });
  const [datasets, repositories] = await Promise.all([load(''), api.list('/repositories', { limit: listLimit })]);
  if (!isCurrent(generation)) return;
  const names = new Map(repositories.items.map(r => [r.id, r.name]));
  show('Datasets', h('h1', null, 'Datasets'), searchable('datasets', 'Search datasets', datasets, load, datasetColumns(names)));
}

async function repositoryView(id, generation) {
  const load = search => api.list('/datasets', { repositoryId: id, search });
  const [repository, datasets] = await Promise.all([api.get(`/repositories/${id}`), load('')]);
  if (!isCurrent(generation)) return;
  show(repository.name, h('p', null, h('a', { href: '#/repositories' }, 'Repositories')), h('h1', null, repository.name),
    repository.description ? h('p', null, repository.description) : null,
    h('dl', { class: 'facts' }, h('dt', null, 'Privacy'), h('dd', null, repository.privacy), h('dt', null, 'Your role'), h('dd', null, repository.permission)),
    h('h2', null, 'Datasets'),
    searchable('datasets', 'Search datasets', datasets, load, datasetColumns(null)),
    createDatasetForm(repository.id));
}

function createDatasetForm(repositoryId) {
  const name = h('input', { type: 'text', id: 'dataset-name', required: true });
  const description = h('input', { type: 'text', id: 'dataset-description' });
  const status = h('div', { 'aria-live': 'polite' });
  return h('form', { id: 'create-dataset', onsubmit: async event => {
    event.preventDefault();
    try {
      const created = await api.post('/datasets', { name: name.value, description: description.value, repositoryId: String(repositoryId) });
      location.hash = `#/datasets/${created.id}`;
    } catch (e) { status.replaceChildren(problemBox(e, 'create-dataset-error')); }
  } }, h('h2', null, 'New dataset'), h('div', { class: 'row' }, field('Name', name), field('Description', description),
    h('button', { type: 'submit' }, 'Create dataset')), status);
}

// ---- the dataset page ----

async function datasetView(id, generation) {
  const dataset = await api.get(`/datasets/${id}`);
  if (!isCurrent(generation)) return;
  const facts = h('dl', { class: 'facts', id: 'dataset-facts' });
  const sections = {
    imports: section('imports', 'Imports'),
    preview: section('preview', 'Preview'),
    schema: section('schema', 'Schema'),
    versions: section('versions', 'Versions'),
    quality: section('quality', 'Quality'),
    analysis: section('analysis', 'Analysis'),
    drift: section('drift', 'Drift between two versions'),
  };
  const page = { id, generation, dataset, facts, sections };
  page.refresh = () => refreshDataset(page);
  show(dataset.name,
    h('p', null, h('a', { href: `#/repositories/${dataset.repositoryId}` }, 'Repository'), ' / ', h('a', { href: '#/datasets' }, 'Datasets')),
    h('h1', null, dataset.name), dataset.description ? h('p', null, dataset.description) : null, facts,
    dataset.mode === 'table' ? uploadSection(page) : h('p', { class: 'hint' }, 'A block dataset takes records through PATCH /Dataset/{name}/data.'),
    Object.values(sections).map(s => s.element));
  renderFacts(page);
  loadImports(page);
  loadDataSections(page);
}

function section(name, title) {
  const body = h('div', { id: `${name}-body` }, h('p', { class: 'hint' }, 'Loading…'));
  const element = h('section', { 'aria-labelledby': `${name}-heading`, id: `${name}-section` }, h('h2', { id: `${name}-heading` }, title), body);
  return { element, body };
}

/** Fills a section from an async producer; an API error shows in that section only. */
async function fill(page, target, produce) {
  try {
    const content = await produce();
    if (isCurrent(page.generation)) target.body.replaceChildren(...[content].flat().filter(Boolean));
  } catch (error) {
    if (isCurrent(page.generation)) target.body.replaceChildren(problemBox(error));
  }
}

function renderFacts(page) {
  const d = page.dataset;
  const facts = [
    ['Id', d.id], ['Mode', d.mode], ['Current version', d.currentVersion ?? 'none yet'], ['Values', formatNumber(d.total_datapoint_count)],
    ['Manifest', d.manifestLocked ? 'locked' : 'unlocked'], ['Your role', d.permission], ['Updated', formatDate(d.updatedAt)],
  ];
  page.facts.replaceChildren(...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
}

async function refreshDataset(page) {
  page.dataset = await api.get(`/datasets/${page.id}`);
  if (!isCurrent(page.generation)) return;
  renderFacts(page);
  loadDataSections(page);
}

function loadDataSections(page) {
  const { sections, dataset } = page;
  const noData = () => h('p', { class: 'hint' }, 'No data yet: upload a file above.');
  fill(page, sections.schema, async () => schemaTable(await api.get(`/datasets/${page.id}/columns`)));
  if (dataset.currentVersion === null || dataset.currentVersion === undefined) {
    for (const name of ['preview', 'versions', 'quality', 'analysis', 'drift']) sections[name].body.replaceChildren(noData());
    return;
  }
  fill(page, sections.preview, async () => previewTable(await api.get(`/api/datasets/${page.id}`)));
  const versions = api.get(`/api/datasets/${page.id}/versions`, { limit: 100 });
  fill(page, sections.versions, async () => versionsTable(await versions));
  fill(page, sections.quality, async () => qualityView((await api.get(`/api/datasets/${page.id}/quality`)).quality));
  fill(page, sections.analysis, async () => analysisView((await api.get(`/api/datasets/${page.id}/analyze`)).statistics));
  fill(page, sections.drift, async () => driftForm(page, (await versions).items));
}

function schemaTable(columns) {
  const definitions = columns.columnDefinitions || [];
  if (!definitions.length) return h('p', { class: 'hint' }, 'No columns yet: the first upload (with its manifest) defines them.');
  return table([
    { label: 'Column', value: c => c.sourceName },
    { label: 'Type', value: c => c.dataType },
    { label: 'Key', value: c => (c.isEntity ? 'yes' : '') },
    { label: 'Date format', value: c => c.dateFormat },
  ], definitions, { id: 'schema-table' });
}

function previewTable(detail) {
  if (detail.preview_error) return problemBox({ title: 'The preview could not be read', detail: detail.preview_error });
  const rows = detail.preview || [];
  if (!rows.length) return h('p', { class: 'hint' }, 'The current version has no rows.');
  const names = Object.keys(rows[0]);
  return [
    h('p', { class: 'hint' }, `The first ${rows.length} of ${formatNumber(detail.dataset.rows)} rows of version ${detail.dataset.version}.`),
    table(names.map(n => ({ label: n, value: r => r[n], numeric: typeof rows[0][n] === 'number' })), rows, { id: 'preview-table' }),
  ];
}

function versionsTable(versions) {
  return table([
    { label: 'Version', value: v => v.version, numeric: true },
    { label: 'Rows', value: v => v.row_count, numeric: true },
    { label: 'Columns', value: v => v.column_count, numeric: true },
    { label: 'Description', value: v => v.description },
    { label: 'Created by', value: v => v.created_by_name },
    { label: 'Created', value: v => formatDate(v.created_at) },
  ], versions.items, { id: 'versions-table' });
}

function qualityView(quality) {
  return [
    h('p', null, 'Overall score: ', h('strong', { id: 'quality-score' }, formatNumber(quality.overall_score, 3))),
    table([
      { label: 'Check', value: c => c.name },
      { label: 'Passed', value: c => (c.passed ? 'yes' : 'no') },
      { label: 'Details', value: c => c.details },
    ], quality.checks || [], { id: 'quality-table' }),
    quality.issues && quality.issues.length ? h('ul', null, quality.issues.map(i => h('li', null, i))) : null,
  ];
}

function analysisView(statistics) {
  const columns = Object.entries(statistics.columns || {});
  const charts = columns.flatMap(([name, c]) => [
    c.histogram && c.histogram.counts ? histogram(name, c.histogram.counts, c.histogram.bin_edges) : null,
    c.top_values && Object.keys(c.top_values).length ? topValues(name, c.top_values) : null,
  ]).filter(Boolean);
  return [
    h('p', null, `${formatNumber(statistics.row_count)} rows, ${formatNumber(statistics.duplicate_rows)} duplicate rows.`),
    table([
      { label: 'Column', value: ([n]) => n },
      { label: 'Type', value: ([, c]) => c.type },
      { label: 'Missing', value: ([, c]) => c.missing, numeric: true },
      { label: 'Unique', value: ([, c]) => c.unique, numeric: true },
      { label: 'Mean', value: ([, c]) => formatNumber(c.mean), numeric: true },
      { label: 'Std', value: ([, c]) => formatNumber(c.std), numeric: true },
      { label: 'Min', value: ([, c]) => (typeof c.min === 'number' ? formatNumber(c.min) : c.min), numeric: true },
      { label: 'Max', value: ([, c]) => (typeof c.max === 'number' ? formatNumber(c.max) : c.max), numeric: true },
    ], columns, { id: 'analysis-table' }),
    h('div', { class: 'charts', id: 'analysis-charts' }, charts),
  ];
}

function driftForm(page, versions) {
  if (versions.length < 2) return h('p', { class: 'hint', id: 'drift-hint' }, 'Drift needs two versions: upload another file to compare.');
  const numbers = versions.map(v => v.version).sort((a, b) => a - b);
  const select = (id, selected) => h('select', { id }, numbers.map(n => h('option', { value: n, selected: n === selected }, `Version ${n}`)));
  const v1 = select('drift-v1', numbers[numbers.length - 2]);
  const v2 = select('drift-v2', numbers[numbers.length - 1]);
  const result = h('div', { id: 'drift-result', 'aria-live': 'polite' });
  const form = h('form', { id: 'drift-form', onsubmit: async event => {
    event.preventDefault();
    result.replaceChildren(h('p', null, 'Comparing…'));
    try {
      const comparison = await api.get(`/api/datasets/${page.id}/compare`, { v1: v1.value, v2: v2.value });
      result.replaceChildren(...driftView(comparison, v1.value, v2.value));
    } catch (e) { result.replaceChildren(problemBox(e, 'drift-error')); }
  } }, h('div', { class: 'row' }, field('From', v1), field('To', v2), h('button', { type: 'submit', id: 'drift-compare' }, 'Compare')));
  return [form, result];
}

function driftView(comparison, v1, v2) {
  const summary = comparison.summary || {};
  const diffs = Object.entries(comparison.column_diffs || {});
  const list = values => (values && values.length ? values.join(', ') : 'none');
  return [
    h('dl', { class: 'facts', id: 'drift-summary' },
      h('dt', null, `Rows in version ${v1}`), h('dd', null, formatNumber(summary.v1_rows)),
      h('dt', null, `Rows in version ${v2}`), h('dd', null, formatNumber(summary.v2_rows)),
      h('dt', null, 'Row difference'), h('dd', null, formatNumber(summary.rows_diff)),
      h('dt', null, 'Columns added'), h('dd', null, list(summary.columns_added)),
      h('dt', null, 'Columns removed'), h('dd', null, list(summary.columns_removed))),
    table([
      { label: 'Column', value: ([n]) => n },
      { label: 'Kind', value: ([, d]) => d.type },
      { label: 'PSI', value: ([, d]) => formatNumber(d.psi), numeric: true },
      { label: 'Shift', value: ([, d]) => h('span', { class: `shift-${d.shift_level}` }, d.shift_level ?? '') },
      { label: `Mean in ${v1}`, value: ([, d]) => formatNumber(d.v1_mean), numeric: true },
      { label: `Mean in ${v2}`, value: ([, d]) => formatNumber(d.v2_mean), numeric: true },
      { label: 'Mean shift %', value: ([, d]) => formatNumber(d.mean_shift_pct, 3), numeric: true },
    ], diffs, { id: 'drift-table' }),
    h('p', { class: 'hint' }, 'PSI below 0.1 is a low shift, up to 0.25 moderate, above that high. ',
      h('span', { class: 'legend-v1' }, `■ version ${v1}`), ' ', h('span', { class: 'legend-v2' }, `■ version ${v2}`)),
    h('div', { class: 'charts' }, diffs.filter(([, d]) => d.category_changes).map(([n, d]) => categoryShares(n, d.category_changes, v1, v2))),
  ];
}

// ---- imports: live status ----

const unfinished = status => status === 'Requested' || status === 'Processing';

/** The newest imports, refreshed while any of them is still queued or running. */
async function loadImports(page) {
  const target = page.sections.imports;
  // One poller per page: a newer call (after an upload) takes over from an older one.
  const poller = page.importsPoller = {};
  while (isCurrent(page.generation) && page.importsPoller === poller) {
    let anyRunning = false;
    await fill(page, target, async () => {
      const head = await api.list(`/datasets/${page.id}/processes`, { limit: 1 });
      if (!head.total) return h('p', { class: 'hint', id: 'imports-empty' }, 'No imports yet.');
      const newest = await api.list(`/datasets/${page.id}/processes`, { limit: 20, offset: Math.max(0, head.total - 20) });
      const rows = newest.items.slice().reverse();
      anyRunning = rows.some(p => unfinished(p.status));
      return [
        h('p', { class: 'hint' }, `The newest ${rows.length} of ${head.total} imports` + (anyRunning ? ', refreshed while one runs.' : '.')),
        table([
          { label: 'Import', value: p => p.id, numeric: true },
          { label: 'Status', value: p => h('span', { class: `status-${p.status}` }, p.status) },
          { label: 'Description', value: p => p.statusDescription },
          { label: 'Rows read', value: p => (p.progress ? p.progress.rowsRead : null), numeric: true },
          { label: 'Version', value: p => p.version, numeric: true },
          { label: 'Created', value: p => formatDate(p.createdAt) },
          { label: 'Finished', value: p => formatDate(p.processedAt) },
        ], rows, { id: 'imports-table' }),
      ];
    });
    if (!anyRunning) return;
    await sleep(pollMilliseconds * 2);
  }
}

// ---- upload with progress ----

function uploadSection(page) {
  const file = h('input', { type: 'file', id: 'upload-file', required: true, accept: '.csv,.gz,.txt,.tsv' });
  const dateColumn = h('input', { type: 'text', id: 'upload-date-column', placeholder: 'Date' });
  const dateFormat = h('input', { type: 'text', id: 'upload-date-format', value: '%Y-%m-%d' });
  const entities = h('input', { type: 'text', id: 'upload-entities', placeholder: 'Country, Region' });
  const flag = id => h('input', { type: 'checkbox', id, name: id });
  const flags = {
    onConflictUpdateDB: flag('upload-update'),
    deleteMissingFromDB: flag('upload-delete-missing'),
    acceptNewColumns: flag('upload-new-columns'),
  };
  const manifestHint = h('p', { class: 'hint', id: 'upload-manifest-hint' }, 'The first upload needs its key: the date column and the entity columns.');
  const sent = h('progress', { id: 'upload-progress', max: 100, value: 0, 'aria-labelledby': 'upload-progress-label' });
  const processed = h('progress', { id: 'import-progress', max: 100, value: 0, 'aria-labelledby': 'import-progress-label' });
  const status = h('div', { id: 'upload-status', class: 'status', role: 'status', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', id: 'upload-submit' }, 'Upload');

  api.get(`/datasets/${page.id}/manifest`).then(manifest => {
    const entries = manifest.manifest || [];
    if (!entries.length) return;
    const date = entries.find(e => e.isDate || /date/i.test(e.dataType || ''));
    const keys = entries.filter(e => e.isEntity && e !== date).map(e => e.sourceName);
    manifestHint.textContent = `This dataset's manifest: date column ${date ? date.sourceName : '(none)'}, entity columns ${keys.join(', ') || '(none)'}`
      + `${manifest.locked ? ' (locked)' : ''}. Leave these fields empty to keep it.`;
  }).catch(() => { /* the hint stays generic */ });

  const form = h('form', { id: 'upload-form', onsubmit: async event => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      status.replaceChildren(problemBox({ title: 'Choose a file', detail: 'Pick a CSV (or gzip-compressed CSV) file to upload.' }, 'upload-error'));
      return file.focus();
    }
    const body = new FormData();
    if (dateColumn.value.trim()) {
      const manifest = [{ sourceName: dateColumn.value.trim(), dataType: 'Date', isEntity: true, dateFormat: dateFormat.value.trim() || undefined }];
      for (const name of entities.value.split(',').map(e => e.trim()).filter(Boolean)) manifest.push({ sourceName: name, dataType: 'String', isEntity: true });
      body.append('manifest', JSON.stringify(manifest));
    }
    body.append('data', chosen, chosen.name);
    const query = new URLSearchParams(Object.entries(flags).map(([name, box]) => [name, box.checked ? 'true' : 'false']));
    button.disabled = true;
    sent.value = 0;
    processed.value = 0;
    try {
      const process = await upload('PUT', `/datasets/${page.id}/data?${query}`, body, (loaded, total) => {
        sent.value = Math.round((loaded / total) * 100);
        status.replaceChildren(h('p', null, `Sending ${chosen.name}: ${sent.value}% (${formatBytes(loaded)} of ${formatBytes(total)})`));
      });
      sent.value = 100;
      announce(`Upload received as import ${process.id}.`);
      loadImports(page);
      await followImport(page, process, chosen.size, status, processed);
    } catch (e) {
      status.replaceChildren(problemBox(e, 'upload-error'));
      announce(`Upload failed: ${e.title}`);
    } finally { button.disabled = false; }
  } },
  field('File (CSV or CSV.gz)', file),
  h('fieldset', null, h('legend', null, 'Manifest'), manifestHint,
    h('div', { class: 'row' }, field('Date column', dateColumn), field('Date format', dateFormat, 'strftime, e.g. %Y-%m-%d'),
      field('Entity columns', entities, 'Comma-separated'))),
  h('fieldset', null, h('legend', null, 'Options'),
    field('Update rows whose key already exists (onConflictUpdateDB)', flags.onConflictUpdateDB),
    field('Delete rows missing from this file (deleteMissingFromDB)', flags.deleteMissingFromDB),
    field('Accept new columns (acceptNewColumns)', flags.acceptNewColumns)),
  button,
  h('div', { class: 'row' },
    h('div', null, h('span', { id: 'upload-progress-label' }, 'Sent '), sent),
    h('div', null, h('span', { id: 'import-progress-label' }, 'Imported '), processed)),
  status);
  return h('section', { 'aria-labelledby': 'upload-heading', id: 'upload-section' }, h('h2', { id: 'upload-heading' }, 'Upload'), form);
}

/** Polls the import until it ends, showing its status and the rows read so far; then refreshes the dataset's sections. */
async function followImport(page, process, fileSize, status, processed) {
  let current = process;
  let lastStatus = '';
  while (isCurrent(page.generation)) {
    if (current.status !== lastStatus) announce(`Import ${current.id}: ${current.status}`);
    lastStatus = current.status;
    const rows = current.progress ? `, ${formatNumber(current.progress.rowsRead)} rows read` : '';
    if (current.progress && fileSize > 0) processed.value = Math.min(100, Math.round((current.progress.bytesRead / fileSize) * 100));
    status.replaceChildren(h('p', null, `Import ${current.id}: `, h('span', { id: 'import-status', class: `status-${current.status}` }, current.status), rows,
      current.statusDescription ? ` — ${current.statusDescription}` : ''));
    if (!unfinished(current.status)) break;
    await sleep(pollMilliseconds);
    current = await api.get(`/datasets/${page.id}/processes/${process.id}`);
  }
  if (!isCurrent(page.generation)) return;
  if (current.status === 'Processed') {
    processed.value = 100;
  } else if (current.errors && current.errors.length) {
    status.append(table([
      { label: 'Row', value: e => e.row, numeric: true },
      { label: 'Column', value: e => e.column },
      { label: 'Message', value: e => e.message },
    ], current.errors, { id: 'import-errors' }));
  }
  loadImports(page);
  await page.refresh();
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
