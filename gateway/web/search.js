// optarc archive search: the page behind GET /search (gateway/handlers/search-page.ts).
//
// Plain ES module, no dependencies. It talks to the search API (/api/v1/...,
// described by gateway/search/openapi.ts) with the reader token kept in this
// tab's sessionStorage, and to S3 only through the presigned GETs a hit carries.
// What is shown lives in the URL hash (#search?q=..., #volume?site=..&vsn=..,
// #volumes?...), so any view can be bookmarked, reloaded and gone back to.
// Data from the API only ever reaches the page through textContent and
// attribute values: the page's CSP requires Trusted Types, so HTML from a
// string would throw.

const TOKEN_KEY = 'optarc.readerToken';
const API = '/api/v1';
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
const MODES = ['q', 'glob', 'regex', 'sha256', 'path'];
const FILTERS = ['site', 'vsn', 'modifiedFrom', 'modifiedBefore', 'newSince', 'sizeMin', 'sizeMax'];
const VIEWS = ['search', 'volume', 'volumes'];
/** Re-ask the API for a hit's URLs when they expire sooner than this. */
const URL_MARGIN_MS = 60_000;

const MODE_HINTS = {
  q: 'Part of the path, 3 characters or more, case-insensitive.',
  glob: 'The whole path: * any run of characters (slashes too), ? one character, [abc], [!a-z]; \\ quotes the next character.',
  regex: 'A JavaScript regular expression searched in the path (no back-references or lookaround).',
  sha256: "The file's SHA-256: 64 hexadecimal digits.",
  path: 'The whole path, exactly.',
};

const ERROR_HINTS = {
  UNAUTHORIZED: 'Check the reader token above: it may be mistyped, revoked or expired.',
  FORBIDDEN_SITE: 'Your reader token does not read this site.',
  BAD_QUERY: 'Fix the search and try again.',
  BAD_CURSOR: 'This page link no longer works: start again from the first page.',
  QUERY_TOO_LONG: 'Shorten the search.',
  NOT_FOUND: 'Nothing here: check the site and VSN.',
  NETWORK: 'Check that the gateway is up and reachable.',
};

// ---------------------------------------------------------------- helpers

function byId(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from search.html`);
  return e;
}

/** An element with properties/attributes and children (strings become text nodes, never HTML). */
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) if (dv !== undefined && dv !== null) e.dataset[dk] = String(dv);
    } else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null && c !== false) e.append(c);
  return e;
}

class PageError extends Error {
  /** @param {string} code @param {string} message @param {number} [status] */
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function humanSize(bytes) {
  if (!Number.isFinite(bytes)) return '?';
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${bytes} B`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[u]}`;
}

function exactBytes(bytes) {
  return `${Number(bytes).toLocaleString('en-US')} bytes`;
}

/** "4096", "10K", "2.5 MiB" (1024s), "1 GB" (1000s) → bytes; undefined for ''. */
function parseSize(text, what) {
  const s = String(text ?? '').trim();
  if (s === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?)(b?))?$/i.exec(s);
  if (!m) throw new PageError('BAD_INPUT', `${what} "${s}" is not a size: write bytes, or e.g. 10K, 2.5MiB, 1GB.`);
  const exp = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  const base = m[2] && !m[3] && m[4] ? 1000 : 1024;
  const n = Math.round(Number(m[1]) * base ** exp);
  if (!Number.isSafeInteger(n)) throw new PageError('BAD_INPUT', `${what} "${s}" is too large.`);
  return n;
}

function parseLimit(text) {
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= MAX_LIMIT ? n : DEFAULT_LIMIT;
}

/** An ISO time as "2024-03-01 22:14:05 UTC" (times are shown in UTC, as the filters take them). */
function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function timeEl(iso) {
  return el('time', { datetime: iso, text: fmtTime(iso) });
}

function basename(path) {
  const parts = String(path)
    .split('/')
    .filter((p) => p !== '' && p !== '.' && p !== '..');
  return parts.pop() || 'download';
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

// ---------------------------------------------------------------- token

let memoryToken = '';

function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return memoryToken;
  }
}

function setToken(token) {
  memoryToken = token;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives as long as the page
  }
  showTokenState();
}

function showTokenState() {
  const has = getToken() !== '';
  const state = byId('token-state');
  state.textContent = has ? 'Token in use (kept for this tab only).' : 'No token: enter your reader token.';
  state.dataset.state = has ? 'set' : 'unset';
}

// ---------------------------------------------------------------- API

/** GET an API path; resolves to the JSON body, rejects with a PageError carrying the API's {error, message}. */
async function api(path, params, signal) {
  const url = new URL(API + path, location.origin);
  if (params) for (const [k, v] of params) url.searchParams.append(k, v);
  let res;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${getToken()}`, accept: 'application/json' },
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new PageError('NETWORK', `Cannot reach the gateway: ${e?.message ?? e}`);
  }
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    if (body && typeof body.error === 'string') {
      throw new PageError(body.error, typeof body.message === 'string' ? body.message : '', res.status);
    }
    throw new PageError(`HTTP_${res.status}`, text.trim().slice(0, 300) || res.statusText, res.status);
  }
  if (body === undefined || body === null || typeof body !== 'object') {
    throw new PageError('BAD_RESPONSE', 'The gateway answered something that is not a JSON object.', res.status);
  }
  return body;
}

// ---------------------------------------------------------------- URL hash

function readHash() {
  const raw = location.hash.replace(/^#/, '');
  const at = raw.indexOf('?');
  const name = at < 0 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
  return { view: VIEWS.includes(name) ? name : 'search', params };
}

function hashFor(view, params) {
  const clean = new URLSearchParams();
  for (const [k, v] of params) if (v !== '') clean.append(k, v);
  const s = clean.toString();
  return `#${view}${s ? `?${s}` : ''}`;
}

/** Shows `view` with `params`: a new history entry, or a fresh load when the hash is already that. */
function go(view, params) {
  const h = hashFor(view, params);
  if (location.hash === h) void render();
  else location.hash = h;
}

function withParams(params, changes) {
  const p = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') p.delete(k);
    else p.set(k, String(v));
  }
  return p;
}

// ---------------------------------------------------------------- page state

const app = () => byId('app');
let seq = 0;
let running;

function setState(state) {
  app().dataset.state = state;
  app().setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
}

function setStatus(text) {
  byId('status').textContent = text;
}

function clearError() {
  byId('error-box').hidden = true;
  byId('error-code').textContent = '';
  byId('error-message').textContent = '';
  byId('error-hint').textContent = '';
}

function showError(e) {
  const code = e instanceof PageError ? e.code : 'PAGE_ERROR';
  const message = e instanceof PageError ? e.message : String(e?.message ?? e);
  byId('error-code').textContent = code;
  byId('error-status').textContent = e instanceof PageError && e.status ? ` (HTTP ${e.status})` : '';
  byId('error-message').textContent = message || '(no message)';
  byId('error-hint').textContent = ERROR_HINTS[code] ?? '';
  byId('error-box').hidden = false;
}

function clearResults() {
  byId('files-body').replaceChildren();
  byId('volumes-body').replaceChildren();
  byId('files-wrap').hidden = true;
  byId('volumes-wrap').hidden = true;
  byId('pager').hidden = true;
  byId('incomplete').hidden = true;
}

function showView(view) {
  byId('search-panel').hidden = view !== 'search';
  byId('volume-panel').hidden = view !== 'volume';
  byId('volumes-panel').hidden = view !== 'volumes';
  for (const [id, v] of [
    ['nav-search', 'search'],
    ['nav-volumes', 'volumes'],
  ]) {
    if (v === view) byId(id).setAttribute('aria-current', 'page');
    else byId(id).removeAttribute('aria-current');
  }
  document.title = `${{ search: 'Search', volume: 'Volume', volumes: 'Volumes' }[view]} · optarc archive`;
}

async function render() {
  running?.abort();
  const ctl = new AbortController();
  running = ctl;
  app().dataset.seq = String(++seq);
  const { view, params } = readHash();
  showView(view);
  fillForms(view, params);
  clearError();
  clearResults();
  setStatus('');
  if (!getToken()) {
    setStatus('Enter your reader token above to search the archive.');
    setState('idle');
    return;
  }
  setState('loading');
  setStatus('Loading…');
  try {
    const done =
      view === 'search'
        ? await runSearch(params, ctl.signal)
        : view === 'volume'
          ? await runVolume(params, ctl.signal)
          : await runVolumes(params, ctl.signal);
    if (ctl.signal.aborted) return;
    setState(done === false ? 'idle' : 'ready');
  } catch (e) {
    if (ctl.signal.aborted) return;
    clearResults();
    setStatus('');
    showError(e);
    setState('error');
  }
}

// ---------------------------------------------------------------- forms

function fillForms(view, params) {
  if (view === 'search') {
    const mode = MODES.find((m) => params.has(m)) ?? byId('mode').value ?? 'q';
    byId('mode').value = mode;
    byId('term').value = params.get(mode) ?? '';
    showModeHint();
    for (const f of FILTERS) byId(`f-${f}`).value = params.get(f) ?? '';
    byId('f-limit').value = params.get('limit') ?? '';
    if (FILTERS.some((f) => params.has(f)) || params.has('limit')) byId('filters').open = true;
  } else if (view === 'volumes') {
    byId('v-site').value = params.get('site') ?? '';
    byId('v-newSince').value = params.get('newSince') ?? '';
    byId('v-limit').value = params.get('limit') ?? '';
  }
}

function showModeHint() {
  const mode = byId('mode').value;
  byId('mode-hint').textContent = MODE_HINTS[mode] ?? '';
  const term = byId('term');
  term.placeholder = {
    q: 'e.g. m31',
    glob: 'e.g. night*/m31.fits',
    regex: 'e.g. ^night[0-9]+/.*\\.fits$',
    sha256: '64 hex digits',
    path: 'e.g. night1/m31.fits',
  }[mode];
}

function onSearchSubmit(ev) {
  ev.preventDefault();
  const mode = byId('mode').value;
  let term = byId('term').value;
  if (mode === 'sha256') term = term.trim().toLowerCase();
  const p = new URLSearchParams();
  if (term !== '') p.set(mode, term);
  for (const f of FILTERS) {
    let v = byId(`f-${f}`).value.trim();
    if (f === 'site') v = v.toLowerCase();
    if (f === 'vsn') v = v.toUpperCase();
    if (v !== '') p.set(f, v);
  }
  const limit = byId('f-limit').value.trim();
  if (limit !== '') p.set('limit', limit);
  go('search', p);
}

function onVolumesSubmit(ev) {
  ev.preventDefault();
  const p = new URLSearchParams();
  const site = byId('v-site').value.trim().toLowerCase();
  const since = byId('v-newSince').value.trim();
  const limit = byId('v-limit').value.trim();
  if (site) p.set('site', site);
  if (since) p.set('newSince', since);
  if (limit) p.set('limit', limit);
  go('volumes', p);
}

// ---------------------------------------------------------------- paging

let pager = { view: 'search', params: new URLSearchParams(), next: null };

function setPager(view, params, next, complete, count, noun) {
  const page = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1);
  pager = { view, params, next, page };
  byId('pager').hidden = false;
  byId('next-page').hidden = !next;
  byId('first-page').hidden = !params.has('cursor');
  byId('page-info').textContent = `Page ${page} · ${plural(count, noun)}${next ? '' : ' · end of results'}`;
  byId('incomplete').hidden = complete !== false;
}

function nextPage() {
  if (!pager.next) return;
  go(pager.view, withParams(pager.params, { cursor: pager.next, page: pager.page + 1 }));
}

function firstPage() {
  go(pager.view, withParams(pager.params, { cursor: '', page: '' }));
}

// ---------------------------------------------------------------- views

function fileQuery(params) {
  const q = new URLSearchParams();
  for (const m of MODES) if (params.has(m)) q.set(m, params.get(m));
  for (const f of ['site', 'vsn', 'modifiedFrom', 'modifiedBefore', 'newSince']) {
    const v = params.get(f);
    if (v) q.set(f, v);
  }
  const min = parseSize(params.get('sizeMin'), 'Size from');
  const max = parseSize(params.get('sizeMax'), 'Size up to');
  if (min !== undefined) q.set('sizeMin', String(min));
  if (max !== undefined) q.set('sizeMax', String(max));
  return q;
}

async function runSearch(params, signal) {
  const q = fileQuery(params);
  if ([...q.keys()].length === 0) {
    setStatus('Type a search, or set a filter, then press Search.');
    byId('term').focus();
    return false;
  }
  const limit = parseLimit(params.get('limit'));
  q.set('limit', String(limit));
  if (params.get('cursor')) q.set('cursor', params.get('cursor'));
  const page = await api('/files', q, signal);
  if (signal.aborted) return;
  if (!Array.isArray(page.files)) throw new PageError('BAD_RESPONSE', 'The answer has no files list.');
  showFiles(page.files, page.complete === false);
  setPager('search', params, page.next ?? null, page.complete, page.files.length, 'file');
  setStatus(
    page.files.length === 0 && !page.next
      ? 'No files match.'
      : `${plural(page.files.length, 'file')} on this page${page.next ? '; more on the next.' : '.'}`,
  );
}

async function runVolume(params, signal) {
  const site = params.get('site') ?? '';
  const vsn = params.get('vsn') ?? '';
  if (!site || !vsn) throw new PageError('BAD_INPUT', 'A volume link needs a site and a VSN.');
  const q = new URLSearchParams({ site, vsn, limit: String(parseLimit(params.get('limit'))) });
  if (params.get('cursor')) q.set('cursor', params.get('cursor'));
  const [detail, page] = await Promise.all([
    api(`/volumes/${encodeURIComponent(site)}/${encodeURIComponent(vsn)}`, null, signal),
    api('/files', q, signal),
  ]);
  if (signal.aborted) return;
  showVolume(detail.volume);
  if (!Array.isArray(page.files)) throw new PageError('BAD_RESPONSE', 'The answer has no files list.');
  showFiles(page.files, page.complete === false);
  setPager('volume', params, page.next ?? null, page.complete, page.files.length, 'file');
  setStatus(
    `${plural(page.files.length, 'file')} of this volume on this page${page.next ? '; more on the next.' : '.'}`,
  );
}

async function runVolumes(params, signal) {
  const q = new URLSearchParams({ limit: String(parseLimit(params.get('limit'))) });
  for (const f of ['site', 'newSince', 'cursor']) if (params.get(f)) q.set(f, params.get(f));
  const page = await api('/volumes', q, signal);
  if (signal.aborted) return;
  if (!Array.isArray(page.volumes)) throw new PageError('BAD_RESPONSE', 'The answer has no volumes list.');
  showVolumes(page.volumes);
  setPager('volumes', params, page.next ?? null, true, page.volumes.length, 'volume');
  setStatus(
    page.volumes.length === 0
      ? 'No volumes.'
      : `${plural(page.volumes.length, 'volume')} on this page${page.next ? '; more on the next.' : '.'}`,
  );
}

// ---------------------------------------------------------------- rendering

function volumeHref(site, vsn) {
  return hashFor('volume', new URLSearchParams({ site, vsn }));
}

function copiesCell(copies) {
  const list = Array.isArray(copies) ? copies : [];
  const td = el('td', { class: 'copies', dataset: { testid: 'copies', count: list.length } });
  td.append(
    el('span', { class: 'copy-count', text: list.length === 0 ? 'no copies' : plural(list.length, 'copy', 'copies') }),
  );
  if (list.length > 0) {
    const ul = el('ul', { class: 'copy-list' });
    for (const c of list) {
      ul.append(
        el(
          'li',
          { title: `copy ${c.copy}, verified ${fmtTime(c.verifiedAt)}` },
          el('span', { class: 'drive', text: c.drive || '?' }),
          ' · ',
          el('span', { class: c.medium ? 'medium' : 'medium unknown', text: c.medium ?? 'place unknown' }),
        ),
      );
    }
    td.append(ul);
  }
  return td;
}

function fileRow(f) {
  const tr = el('tr', {
    dataset: {
      testid: 'file-row',
      site: f.site,
      vsn: f.vsn,
      path: f.path,
      session: f.session,
      part: f.part ? f.part.index : undefined,
    },
  });
  const details = [`SHA-256 ${String(f.sha256).slice(0, 16)}…`, `session ${f.session}`];
  if (f.part) details.push(`part ${f.part.index} of ${f.part.count}`);
  tr.append(
    el(
      'td',
      { class: 'path' },
      el('span', { class: 'path-text', dataset: { testid: 'path' }, text: f.path }),
      el('span', {
        class: 'sub',
        title: `SHA-256 ${f.sha256}`,
        dataset: { sha256: f.sha256 },
        text: details.join(' · '),
      }),
    ),
    el(
      'td',
      { class: 'vsn' },
      el('a', { href: volumeHref(f.site, f.vsn), dataset: { testid: 'vsn-link' }, text: f.vsn }),
    ),
    el('td', { class: 'site', dataset: { testid: 'site' }, text: f.site }),
    copiesCell(f.copies),
    el('td', {
      class: 'num',
      title: exactBytes(f.size),
      dataset: { testid: 'size', bytes: f.size },
      text: humanSize(f.size),
    }),
    el('td', { class: 'modified', dataset: { testid: 'modified' } }, timeEl(f.modified)),
  );
  const button = el('button', {
    type: 'button',
    class: 'download',
    dataset: { testid: 'download' },
    'aria-label': `Download ${f.path}`,
    text: 'Download',
  });
  if (!f.restore || !Array.isArray(f.restore.ranges)) {
    button.disabled = true;
    button.title = 'Not restorable here: the gateway has no S3 bucket configured.';
  } else {
    button.addEventListener('click', () => void download(f, button));
  }
  tr.append(el('td', { class: 'actions' }, button));
  return tr;
}

function showFiles(files, incomplete) {
  const body = byId('files-body');
  if (files.length === 0) {
    body.replaceChildren(
      el(
        'tr',
        { class: 'empty' },
        el('td', {
          colspan: 7,
          text: incomplete ? 'No matches in the part of the index scanned so far.' : 'No files match.',
        }),
      ),
    );
  } else body.replaceChildren(...files.map(fileRow));
  byId('files-wrap').hidden = false;
}

function showVolume(v) {
  byId('volume-title').textContent = `Volume ${v.vsn}`;
  byId('volume-site').textContent = `site ${v.site}`;
  byId('volume-search').setAttribute('href', hashFor('search', new URLSearchParams({ site: v.site, vsn: v.vsn })));
  const rows = [
    ['Label', v.label || '—'],
    ['Media', v.media],
    ['Created', timeEl(v.createdAt)],
    ['Mirrored', timeEl(v.mirroredAt)],
    ['Sessions', String(v.sessions)],
    ['Files', `${plural(v.files, 'file')}, ${humanSize(v.bytes)} (${exactBytes(v.bytes)})`],
    ['Image', `${v.image?.key ?? '?'} · version ${v.image?.versionId ?? '?'} · ${humanSize(v.image?.bytes)}`],
    ['Image SHA-256', el('code', { text: v.image?.sha256 ?? '?' })],
    ['Manifest', v.manifest?.key ?? '?'],
  ];
  const dl = byId('volume-details');
  dl.replaceChildren();
  for (const [k, val] of rows) dl.append(el('dt', { text: k }), el('dd', {}, val));
  const copies = Array.isArray(v.copies) ? v.copies : [];
  const cdd = el('dd', { dataset: { testid: 'volume-copies' } });
  if (copies.length === 0) cdd.textContent = 'none recorded';
  else {
    const ul = el('ul', { class: 'copy-list' });
    for (const c of copies) {
      ul.append(
        el(
          'li',
          {},
          `copy ${c.copy}: drive `,
          el('span', { class: 'drive', text: c.drive || '?' }),
          ', ',
          el('span', { class: 'medium', text: c.medium ?? 'place unknown' }),
          `, verified ${fmtTime(c.verifiedAt)}`,
        ),
      );
    }
    cdd.append(ul);
  }
  dl.append(el('dt', { text: `Copies (${copies.length})` }), cdd);
  dl.append(el('dt', { text: 'Fixity' }), fixityDd(v.fixity));
}

/** The latest fixity check of each target (cloud image, disc), failures first and marked. */
function fixityDd(fixity) {
  const checks = Array.isArray(fixity) ? [...fixity] : [];
  const dd = el('dd', { dataset: { testid: 'volume-fixity', failed: checks.filter((c) => !c.ok).length } });
  if (checks.length === 0) {
    dd.textContent = 'not checked yet';
    return dd;
  }
  checks.sort((a, b) => Number(a.ok) - Number(b.ok) || String(a.target).localeCompare(String(b.target)));
  const ul = el('ul', { class: 'fixity-list' });
  for (const c of checks) {
    ul.append(
      el(
        'li',
        {
          class: c.ok ? 'fixity-ok' : 'fixity-failed',
          dataset: { testid: 'fixity-check', target: c.target, ok: c.ok },
        },
        el('span', { class: 'fixity-target', text: String(c.target) }),
        ': ',
        el('strong', { class: 'fixity-result', text: c.ok ? 'intact' : 'FAILED' }),
        `, checked ${fmtTime(c.checkedAt)}, ${humanSize(c.bytes)} hashed`,
        c.ok || !c.detail ? null : el('div', { class: 'fixity-detail', text: String(c.detail) }),
      ),
    );
  }
  dd.append(ul);
  return dd;
}

function showVolumes(volumes) {
  const body = byId('volumes-body');
  if (volumes.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: 8, text: 'No volumes.' })));
  } else {
    body.replaceChildren(
      ...volumes.map((v) =>
        el(
          'tr',
          { dataset: { testid: 'volume-row', site: v.site, vsn: v.vsn } },
          el('td', { class: 'site', text: v.site }),
          el(
            'td',
            { class: 'vsn' },
            el('a', { href: volumeHref(v.site, v.vsn), dataset: { testid: 'vsn-link' }, text: v.vsn }),
          ),
          el('td', { text: v.label || '—' }),
          el('td', { text: v.media }),
          el('td', { class: 'modified' }, timeEl(v.createdAt)),
          el('td', { class: 'num', text: Number(v.files).toLocaleString('en-US') }),
          el('td', { class: 'num', title: exactBytes(v.bytes), dataset: { bytes: v.bytes }, text: humanSize(v.bytes) }),
          copiesCell(v.copies),
        ),
      ),
    );
  }
  byId('volumes-wrap').hidden = false;
}

// ---------------------------------------------------------------- downloads

/** Every entry of the hit's file (all its parts when it was cut across volumes), with fresh URLs when needed. */
async function restorePlan(f) {
  const ranges = f.restore.ranges;
  const hitBytes = ranges.reduce((n, r) => n + r.length, 0);
  const fresh = Date.parse(f.restore.expiresAt) - Date.now() > URL_MARGIN_MS;
  if (!f.part || hitBytes === f.size) {
    if (fresh) return { ranges, size: f.size };
    const again = (await allEntries(f)).find(
      (e) => e.vsn === f.vsn && e.session === f.session && (e.part?.index ?? 0) === (f.part?.index ?? 0),
    );
    if (!again?.restore) throw new PageError('NOT_FOUND', 'The file is no longer in the index: search again.');
    return { ranges: again.restore.ranges, size: f.size };
  }
  // One part of a file cut across volumes: the SHA-256 and size are the whole file's, so fetch every part in order.
  const parts = new Map();
  for (const e of await allEntries(f)) {
    if (e.part && e.part.count === f.part.count && e.restore && !parts.has(e.part.index)) parts.set(e.part.index, e);
  }
  const out = [];
  let offset = 0;
  for (let i = 1; i <= f.part.count; i++) {
    const p = parts.get(i);
    if (!p)
      throw new PageError(
        'NOT_FOUND',
        `Part ${i} of ${f.part.count} is not in the index: cannot restore the whole file.`,
      );
    if (p.part.offset !== offset)
      throw new PageError('BAD_RESPONSE', `Part ${i} does not start where part ${i - 1} ends.`);
    offset += p.part.length;
    out.push(...p.restore.ranges);
  }
  return { ranges: out, size: f.size };
}

async function allEntries(f) {
  const q = new URLSearchParams({ path: f.path, sha256: f.sha256, site: f.site, limit: String(MAX_LIMIT) });
  const out = [];
  for (;;) {
    const page = await api('/files', q);
    out.push(...(page.files ?? []));
    if (!page.next) return out;
    q.set('cursor', page.next);
  }
}

function s3ErrorText(status, text) {
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return `S3 answered HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
}

function downloadItem(f) {
  const progress = el('progress', { max: 1, value: 0, 'aria-label': `Download progress of ${f.path}` });
  const status = el('span', {
    class: 'dl-status',
    dataset: { testid: 'download-status' },
    role: 'status',
    text: 'Starting…',
  });
  const li = el(
    'li',
    { dataset: { testid: 'download-item', state: 'running', path: f.path } },
    el('span', { class: 'dl-name', text: basename(f.path) }),
    el('span', { class: 'dl-path', text: f.path }),
    progress,
    status,
  );
  byId('download-list').prepend(li);
  byId('downloads').hidden = false;
  return {
    progress(received, total) {
      progress.max = Math.max(total, 1);
      progress.value = received;
      status.textContent = `${humanSize(received)} of ${humanSize(total)}`;
    },
    say(text) {
      status.textContent = text;
    },
    end(state, text, curl) {
      li.dataset.state = state;
      status.textContent = text;
      if (state === 'done') progress.value = progress.max;
      if (curl) {
        li.append(
          el(
            'details',
            { class: 'curl' },
            el('summary', { text: 'Restore with curl instead' }),
            el('code', { text: curl }),
          ),
        );
      }
    },
  };
}

async function download(f, button) {
  const item = downloadItem(f);
  button.disabled = true;
  try {
    if (!globalThis.crypto?.subtle) {
      throw new PageError(
        'INSECURE_CONTEXT',
        'This browser cannot check SHA-256 here (the page needs https or localhost): download refused.',
      );
    }
    const plan = await restorePlan(f);
    const total = plan.ranges.reduce((n, r) => n + r.length, 0);
    if (total !== plan.size) {
      throw new PageError(
        'BAD_RESPONSE',
        `The ranges add up to ${exactBytes(total)}, the file has ${exactBytes(plan.size)}.`,
      );
    }
    const chunks = [];
    let received = 0;
    item.progress(0, total);
    for (const r of plan.ranges) {
      let res;
      try {
        res = await fetch(r.url, {
          headers: { range: r.range },
          mode: 'cors',
          credentials: 'omit',
          cache: 'no-store',
          referrerPolicy: 'no-referrer',
        });
      } catch (e) {
        throw new PageError('NETWORK', `Cannot reach S3 (or it refused CORS): ${e?.message ?? e}`);
      }
      if (res.status !== 206 && res.status !== 200) {
        throw new PageError('S3_ERROR', s3ErrorText(res.status, await res.text().catch(() => '')), res.status);
      }
      const reader = res.body.getReader();
      let got = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        got += value.byteLength;
        if (got > r.length) {
          await reader.cancel();
          throw new PageError('S3_ERROR', `S3 sent more than the ${exactBytes(r.length)} asked for (${r.range}).`);
        }
        chunks.push(value);
        received += value.byteLength;
        item.progress(received, total);
      }
      if (got !== r.length) {
        throw new PageError('S3_ERROR', `S3 sent ${exactBytes(got)} for ${r.range}, not ${exactBytes(r.length)}.`);
      }
    }
    item.say('Checking SHA-256…');
    const blob = new Blob(chunks, { type: 'application/octet-stream' });
    chunks.length = 0;
    const sha = hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
    if (sha !== String(f.sha256).toLowerCase()) {
      throw new PageError('SHA256_MISMATCH', `The bytes' SHA-256 is ${sha}, not ${f.sha256}: not saved.`);
    }
    const href = URL.createObjectURL(blob);
    const a = el('a', { href, download: basename(f.path), hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
    item.end('done', `Saved ${humanSize(total)} · SHA-256 verified`);
  } catch (e) {
    const code = e instanceof PageError ? e.code : 'PAGE_ERROR';
    item.end('error', `${code}: ${e?.message ?? e}`, f.restore?.curl);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- start

function start() {
  byId('token').value = getToken();
  showTokenState();
  byId('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(byId('token').value.trim());
    void render();
  });
  byId('forget-token').addEventListener('click', () => {
    byId('token').value = '';
    setToken('');
    void render();
  });
  byId('search-form').addEventListener('submit', onSearchSubmit);
  byId('volumes-form').addEventListener('submit', onVolumesSubmit);
  byId('mode').addEventListener('change', showModeHint);
  byId('next-page').addEventListener('click', nextPage);
  byId('first-page').addEventListener('click', firstPage);
  byId('clear-downloads').addEventListener('click', () => {
    byId('download-list').replaceChildren();
    byId('downloads').hidden = true;
  });
  window.addEventListener('hashchange', () => void render());
  void render();
}

start();
