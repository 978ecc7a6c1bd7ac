/*
 * depot console: a read-only view built on /api/v1, in plain JavaScript.
 * Views are addressed by the fragment (#/, #/r/NAME, #/r/NAME/repo/IMAGE,
 * #/u/KEY). Everything shown comes from the API and is put in the page
 * as text (textContent), never as HTML. URLs are relative to /ui/, so
 * the console works on the origin it is served from, also behind a
 * reverse proxy. Signing in asks /token for a token (kept for this tab
 * only, in sessionStorage) that the API reads as its user.
 */
'use strict';

const API = '../api/v1';
const TOKEN_URL = '../token';
const store = window.sessionStorage;

/* el('tag', {class, href, ...}, children...): an element; strings are text. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === 'string' || typeof c === 'number' ?
      document.createTextNode(String(c)) : c);
  }
  return e;
}

function enc(s) { return encodeURIComponent(s); }
function encPath(s) { return s.split('/').map(enc).join('/'); }

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + u[i];
}

function when(t) { return t ? t.replace('T', ' ').replace('Z', ' UTC') : '–'; }
function short(d) { return d ? d.replace(/^(sha256:[0-9a-f]{12}).*/, '$1…') : ''; }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function signInWith(form) {
  const r = await fetch(TOKEN_URL, {
    method: 'POST', credentials: 'omit',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  if (!r.ok) return false;
  const j = await r.json();
  store.setItem('token', j.token || j.access_token);
  if (j.refresh_token) store.setItem('refresh', j.refresh_token);
  return true;
}

/* GET an API path as the signed-in user (or anonymously). */
async function api(path, again) {
  const headers = { Accept: 'application/json' };
  const token = store.getItem('token');
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(API + path, { headers, credentials: 'omit', cache: 'no-store' });
  if (r.status === 401 && token && !again) {
    /* The token expired: renew it once with the refresh token. */
    const refresh = store.getItem('refresh');
    store.removeItem('token');
    if (refresh && await signInWith(new URLSearchParams({
      grant_type: 'refresh_token', refresh_token: refresh, service: 'depot',
      client_id: 'depot-console' }))) return api(path, true);
    store.removeItem('refresh');
    account();
    return api(path, true);
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.errors && body.errors[0] ?
      body.errors[0].message : 'HTTP ' + r.status;
    throw new ApiError(r.status, msg);
  }
  return body;
}

/* ---- header: where we are, who is signed in ---- */

function crumbs(...parts) {
  const nav = document.getElementById('crumbs');
  nav.replaceChildren();
  parts.forEach((p, i) => {
    if (i > 0) nav.appendChild(document.createTextNode(' / '));
    nav.appendChild(p[1] ? el('a', { href: p[1] }, p[0]) : el('span', {}, p[0]));
  });
}

async function account() {
  const who = document.getElementById('who');
  const form = document.getElementById('signin');
  const out = document.getElementById('signout');
  let root = null;
  try { root = await api('/'); } catch (e) { root = null; }
  if (!root || !root.auth) {
    who.textContent = '';
    form.classList.add('hidden');
    out.classList.add('hidden');
    return;
  }
  if (root.user) {
    who.textContent = 'Signed in as ' + root.user;
    form.classList.add('hidden');
    out.classList.remove('hidden');
  } else {
    who.textContent = 'Anonymous';
    form.classList.remove('hidden');
    out.classList.add('hidden');
  }
}

function setupAccount() {
  document.getElementById('signin').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = document.getElementById('user');
    const pw = document.getElementById('password');
    const ok = await signInWith(new URLSearchParams({
      grant_type: 'password', username: user.value, password: pw.value,
      service: 'depot', client_id: 'depot-console', access_type: 'offline' }));
    pw.value = '';
    if (!ok) {
      document.getElementById('who').textContent = 'Wrong user name or password';
      return;
    }
    await account();
    route();
  });
  document.getElementById('signout').addEventListener('click', async () => {
    store.removeItem('token');
    store.removeItem('refresh');
    await account();
    route();
  });
}

/* ---- views ---- */

function main(...children) {
  const m = document.getElementById('main');
  m.replaceChildren(...children);
  return m;
}

function failure(e) {
  if (e instanceof ApiError && e.status === 401)
    return el('p', { class: 'error' }, 'Sign in to see this.');
  if (e instanceof ApiError && e.status === 404)
    return el('p', { class: 'error' }, 'Not found (or not yours to see).');
  return el('p', { class: 'error' }, 'Error: ' + e.message);
}

function stateCell(h) {
  if (!h) return el('span', { class: 'muted' }, '–');
  return el('span', { class: 'state-' + h.state }, h.state.replace('_', ' '));
}

function upstreamChips(ups) {
  if (!ups.length) return el('span', { class: 'muted' }, 'none');
  return el('span', {}, ups.map((u, i) => el('span', { class: 'chip' },
    String(i + 1) + '. ', el('a', { href: '#/u/' + enc(u.key) }, u.key))));
}

/* What a registry stores: repositories and tags, or (helm) hosted charts. */
function stored(st) {
  const n = (v, one, many) => String(v) + ' ' + (v === 1 ? one : many);
  if (st.repositories !== null && st.repositories !== undefined)
    return n(st.repositories, 'repository', 'repositories') + ', ' + n(st.tags, 'tag', 'tags');
  if (st.charts !== null && st.charts !== undefined)
    return n(st.charts, 'chart', 'charts') + ', ' + n(st.versions, 'version', 'versions') + ' hosted';
  return '–';
}

async function viewRegistries() {
  crumbs(['Registries']);
  const j = await api('/registries');
  const rows = j.registries.map((r) => el('tr', { 'data-registry': r.name },
    el('td', {}, el('a', { href: '#/r/' + enc(r.name) }, r.name)),
    el('td', {}, r.type),
    el('td', {}, r.description || ''),
    el('td', {}, r.labels.map((l) => el('span', { class: 'label' }, l))),
    el('td', {}, upstreamChips(r.upstreams)),
    el('td', {}, stored(r.stats)),
    el('td', {}, bytes(r.stats.bytes))));
  main(el('h1', {}, 'Registries'),
    rows.length ? el('table', { id: 'registries' },
      el('thead', {}, el('tr', {}, ['Name', 'Type', 'Description', 'Labels',
        'Upstreams (in order)', 'Stored', 'Size'].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows)) :
      el('p', { class: 'muted' }, 'No registry to show. Sign in to see more.'));
}

function copyButton(text) {
  return el('button', { type: 'button', class: 'copy', onclick: async (ev) => {
    const b = ev.currentTarget;
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const t = el('textarea', {}, text);
      document.body.appendChild(t);
      t.select();
      document.execCommand('copy');
      t.remove();
    }
    b.textContent = 'Copied';
    setTimeout(() => { b.textContent = 'Copy'; }, 1500);
  } }, 'Copy');
}

async function setupPanel(name) {
  const panel = el('div', { class: 'card setup', id: 'setup' });
  try {
    const s = await api('/registries/' + enc(name) + '/setup');
    panel.appendChild(el('p', { class: 'muted' }, 'Clients reach this ' +
      (s.type === 'helm' ? 'Helm repository' : 'registry') + ' at ',
      el('code', {}, s.base_url), s.sign_in ? ' (sign in with your depot user).' : '.'));
    s.sections.forEach((sec, i) => {
      if (i === 0 && !sec.commands.length) {
        sec.notes.forEach((n) => panel.appendChild(el('p', { class: 'note' }, n.trim())));
        return;
      }
      panel.appendChild(el('section', {}, el('h3', {}, sec.title),
        sec.notes.map((n) => el('p', { class: 'note' }, n.trim())),
        sec.commands.map((c) => el('div', { class: 'cmd' },
          el('pre', {}, c), copyButton(c)))));
    });
  } catch (e) {
    panel.appendChild(failure(e));
  }
  return panel;
}

async function viewRegistry(name) {
  crumbs(['Registries', '#/'], [name]);
  const r = await api('/registries/' + enc(name));
  const upRows = r.upstreams.map((u, i) => el('tr', {},
    el('td', {}, String(i + 1)),
    el('td', {}, el('a', { href: '#/u/' + enc(u.key) }, u.key)),
    el('td', {}, u.source), el('td', {}, el('code', {}, u.url)),
    el('td', {}, stateCell(u.health)),
    el('td', {}, u.health && u.health.last_error ? u.health.last_error +
      ' (' + when(u.health.last_failure) + ')' : '–')));
  const list = el('div', { id: 'content' });
  const search = el('input', { type: 'search', id: 'search',
    placeholder: r.type === 'helm' ? 'Search charts' : 'Search repositories',
    'aria-label': 'search by name' });
  main(el('h1', {}, name, ' ', el('span', { class: 'chip' }, r.type)),
    el('div', { class: 'card' }, el('dl', { class: 'grid' },
      el('dt', {}, 'Description'), el('dd', {}, r.description || '–'),
      el('dt', {}, 'Labels'), el('dd', {}, r.labels.length ?
        r.labels.map((l) => el('span', { class: 'label' }, l)) : '–'),
      el('dt', {}, r.type === 'helm' ? 'Repository URL' : 'Pull from'),
      el('dd', {}, el('code', {}, r.type === 'helm' ? r.repo_url : r.pull_prefix + '/IMAGE:TAG')),
      el('dt', {}, 'Stored'), el('dd', {}, stored(r.stats) + (r.stats.bytes === null ? '' :
        ', ' + bytes(r.stats.bytes)) + (r.stats.complete ? '' : ' (at least)')),
      el('dt', {}, 'Cache'), el('dd', {}, String(r.cache.hits) + ' hits, ' +
        String(r.cache.misses) + ' misses, ' + String(r.cache.stale) + ' stale'),
      el('dt', {}, 'Read-only'), el('dd', {}, r.read_only ? 'yes' : 'no'))),
    el('h2', {}, 'Upstreams, in the order they are asked'),
    upRows.length ? el('table', { id: 'upstreams' }, el('thead', {}, el('tr', {},
      ['#', 'Key', 'Source', 'URL', 'Health', 'Last error'].map((h) => el('th', {}, h)))),
    el('tbody', {}, upRows)) : el('p', { class: 'muted' }, 'None: only what is pushed here.'),
    el('h2', {}, r.type === 'helm' ? 'Charts' : 'Repositories'), search, list,
    el('h2', {}, 'Set up a client'), await setupPanel(name));
  if (r.type === 'helm') await listCharts(name, list, search);
  else await listRepositories(name, list, search);
}

/* Repositories, a page at a time, filtered by the search box. */
async function listRepositories(name, box, search) {
  const names = [];
  const tbody = el('tbody', {});
  const more = el('button', { type: 'button', class: 'more hidden' }, 'More');
  let next = '/registries/' + enc(name) + '/repositories?n=100';
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    tbody.replaceChildren(...names.filter((x) => x.name.toLowerCase().includes(q))
      .map((x) => el('tr', { 'data-repository': x.repository },
        el('td', {}, el('a', { href: '#/r/' + enc(name) + '/repo/' + encPath(x.name) }, x.name)),
        el('td', {}, String(x.tags)))));
  };
  const load = async () => {
    const j = await api(next);
    names.push(...j.repositories);
    next = j.next ? j.next.replace(/^\/api\/v1/, '') : null;
    more.classList.toggle('hidden', !next);
    draw();
  };
  more.addEventListener('click', load);
  search.addEventListener('input', draw);
  box.replaceChildren(el('table', { id: 'repositories' }, el('thead', {},
    el('tr', {}, el('th', {}, 'Repository'), el('th', {}, 'Tags'))), tbody), more);
  await load();
  if (!names.length) box.replaceChildren(el('p', { class: 'muted' }, 'No repository yet.'));
}

/*
 * Chart versions, hosted and from the upstreams (the API merges them as
 * index.yaml does), a page at a time; the search asks the API by name.
 * One row a chart; each version says where it comes from and whether
 * depot holds its .tgz.
 */
async function listCharts(name, box, search) {
  const byName = new Map();
  const tbody = el('tbody', {});
  const more = el('button', { type: 'button', class: 'more hidden' }, 'More');
  const empty = el('p', { class: 'muted hidden' }, 'No chart here yet.');
  let next = null, seq = 0, timer = null;
  const first = () => '/registries/' + enc(name) + '/charts?n=200' +
    (search.value.trim() ? '&q=' + enc(search.value.trim()) : '');
  const draw = () => {
    tbody.replaceChildren(...[...byName.values()].map((c) => el('tr', { 'data-chart': c.name },
      el('td', {}, el('strong', {}, c.name)),
      el('td', {}, c.versions.map((v) => el('span', {
        class: 'chip version' + (v.hosted ? ' hosted' : '') + (v.cached ? ' cached' : ''),
        'data-version': v.version,
        title: (v.hosted ? 'hosted here' : 'from upstream ' + v.source) +
          (v.cached ? ', stored in depot' : ', not fetched yet') +
          (v.app_version ? '; app ' + v.app_version : '') +
          (v.digest ? '; sha256:' + v.digest : '') },
        el('a', { href: v.url }, v.version)))),
      el('td', {}, c.versions[0].app_version || '–'),
      el('td', {}, [...new Set(c.versions.map((v) => v.source))].map((s) =>
        el('span', { class: 'chip source' }, s))),
      el('td', {}, c.description || ''))));
    empty.classList.toggle('hidden', byName.size > 0);
  };
  const load = async (path, mine) => {
    const j = await api(path);
    if (mine !== seq) return;
    for (const v of j.charts) {
      if (!byName.has(v.name))
        byName.set(v.name, { name: v.name, versions: [], description: v.description });
      byName.get(v.name).versions.push(v);
    }
    next = j.next ? j.next.replace(/^\/api\/v1/, '') : null;
    more.classList.toggle('hidden', !next);
    draw();
  };
  const restart = async () => {
    const mine = ++seq;
    byName.clear();
    try {
      await load(first(), mine);
    } catch (e) {
      box.replaceChildren(failure(e));
    }
  };
  more.addEventListener('click', () => load(next, seq).catch((e) => box.replaceChildren(failure(e))));
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(restart, 250);
  });
  box.replaceChildren(el('p', { class: 'muted' }, 'Hosted charts first, then each upstream in ' +
    'order; a version an earlier one has wins. Versions in green are stored in depot; hosted ones are in bold.'),
    el('table', { id: 'charts' }, el('thead', {}, el('tr', {},
      ['Chart', 'Versions', 'App version', 'From', 'Description'].map((h) => el('th', {}, h)))),
    tbody), empty, more);
  await restart();
}

async function viewRepository(name, image) {
  crumbs(['Registries', '#/'], [name, '#/r/' + enc(name)], [image]);
  const tbody = el('tbody', {});
  const more = el('button', { type: 'button', class: 'more hidden' }, 'More tags');
  let next = '/registries/' + enc(name) + '/repositories/' + encPath(image) + '?n=50';
  let repo = null;
  const load = async () => {
    const j = await api(next);
    repo = j.repository;
    next = j.next ? j.next.replace(/^\/api\/v1/, '') : null;
    more.classList.toggle('hidden', !next);
    for (const t of j.tags) {
      const archs = t.platforms.map((p) => el('span', { class: 'chip', title: p.digest || '' },
        [p.os, p.architecture, p.variant].filter(Boolean).join('/')));
      const refs = t.referrers.map((f) => el('div', { class: 'mono digest', title: f.digest },
        (f.artifact_type || f.media_type) + ' ' + short(f.digest)));
      tbody.appendChild(el('tr', { 'data-tag': t.tag },
        el('td', {}, el('strong', {}, t.tag)),
        el('td', { class: 'mono digest' }, t.digest),
        el('td', {}, bytes(t.size)),
        el('td', {}, archs.length ? archs : '–'),
        el('td', { class: 'mono' }, t.media_type.replace(/^application\/vnd\./, '')),
        el('td', {}, when(t.updated), t.origin ? el('div', { class: 'muted' }, 'from ' + t.origin) : null),
        el('td', {}, refs.length ? refs : '–')));
    }
  };
  more.addEventListener('click', load);
  await load();
  main(el('h1', {}, repo),
    el('p', { class: 'muted' }, 'Pull: ', el('code', {}, 'docker pull ' +
      location.host + '/' + repo + ':TAG')),
    el('table', { id: 'tags' }, el('thead', {}, el('tr', {}, ['Tag', 'Digest', 'Size',
      'Architectures', 'Media type', 'Updated', 'Referrers'].map((h) => el('th', {}, h)))), tbody),
    more);
}

async function viewUpstream(key) {
  crumbs(['Registries', '#/'], ['upstream ' + key]);
  const u = await api('/upstreams/' + enc(key));
  const h = u.health;
  main(el('h1', {}, key, ' ', el('span', { class: 'chip' }, 'upstream, ' + u.type)),
    el('div', { class: 'card' }, el('dl', { class: 'grid', id: 'upstream' },
      el('dt', {}, 'Source'), el('dd', {}, u.source),
      el('dt', {}, 'URL'), el('dd', {}, el('code', {}, u.url)),
      el('dt', {}, 'Authentication'), el('dd', {}, u.auth),
      el('dt', {}, 'Tag TTL'), el('dd', {}, String(u.tag_ttl) + ' s'),
      el('dt', {}, 'Used by'), el('dd', {}, u.registries.length ? u.registries.map((r) =>
        el('span', { class: 'chip' }, el('a', { href: '#/r/' + enc(r) }, r))) : '–'))),
    el('h2', {}, 'Health'),
    el('div', { class: 'card' }, el('dl', { class: 'grid', id: 'health' },
      el('dt', {}, 'State'), el('dd', {}, stateCell(h),
        h.until ? ' until ' + when(h.until) : ''),
      el('dt', {}, 'Consecutive failures'), el('dd', {}, String(h.consecutive_failures)),
      el('dt', {}, 'Last success'), el('dd', {}, when(h.last_success)),
      el('dt', {}, 'Last failure'), el('dd', {}, when(h.last_failure)),
      el('dt', {}, 'Last error'), el('dd', {}, h.last_error || '–'))),
    el('h2', {}, 'Cache statistics'),
    el('div', { class: 'card' }, el('dl', { class: 'grid', id: 'stats' },
      el('dt', {}, 'Cache hits'), el('dd', {}, String(u.cache.hits)),
      el('dt', {}, 'Cache misses'), el('dd', {}, String(u.cache.misses)),
      el('dt', {}, 'Served stale'), el('dd', {}, String(u.cache.stale)),
      el('dt', {}, 'Requests to it'), el('dd', {}, String(u.requests)),
      el('dt', {}, 'Errors'), el('dd', {}, String(u.errors)),
      el('dt', {}, 'Received'), el('dd', {}, bytes(u.received_bytes)))),
    el('p', { class: 'muted' }, 'Cache counts are of pulls through ' +
      (u.type === 'helm' ? '/helm/' : '/v2/') + key +
      '/; pulls through a registry count on its page.'));
}

async function route() {
  const h = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const parts = h.split('/');
  try {
    if (parts[0] === 'r' && parts.length >= 4 && parts[2] === 'repo')
      await viewRepository(parts[1], parts.slice(3).join('/'));
    else if (parts[0] === 'r' && parts[1])
      await viewRegistry(parts[1]);
    else if (parts[0] === 'u' && parts[1])
      await viewUpstream(parts[1]);
    else
      await viewRegistries();
  } catch (e) {
    main(failure(e));
  }
  document.body.setAttribute('data-ready', 'yes');
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', async () => {
  setupAccount();
  await account();
  await route();
});
