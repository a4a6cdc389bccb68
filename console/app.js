// The assetd web console: one page over the v1.3 API of the server that
// serves it. No framework and no build step; the server's
// Content-Security-Policy allows only files of this origin, so nothing here
// uses inline styles or fetches from another host.

const KEY_STORAGE = 'assetd.apiKey'; // sessionStorage: the key dies with the tab
const NOTICE_STORAGE = 'assetd.signInNotice'; // sessionStorage: why the last session ended
const UPLOADS_STORAGE = 'assetd.uploads'; // localStorage: unfinished uploads survive a reload

const POLL_MS = 2000;
const PAGE_LIMIT = 12;
const CHUNKS_AT_ONCE = 3;
const CHUNK_ATTEMPTS = 4;
const CHUNK_RETRY_BASE_MS = 500;
const URLS_PER_REQUEST = 50; // the server's limit for presigned-urls
const STATUS_PAGE_LIMIT = 50;
const DELIVERIES_SHOWN = 10;
const KINDS = ['video', 'audio', 'image'];
const BUSY_STEP_STATES = ['pending', 'processing'];
const ASSET_ID = /^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- DOM helpers

/**
 * Makes an element. `attrs` entries named `on…` become listeners, `data-…`
 * and `aria-…` attributes, the rest properties; null, undefined and false are
 * left out. Children may be nodes, strings (always text, never markup) or
 * nested arrays.
 */
function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) {
      element.addEventListener(name.slice(2), value);
    } else if (name.startsWith('data-') || name.startsWith('aria-') || name === 'role' || name === 'for') {
      element.setAttribute(name, value === true ? '' : String(value));
    } else {
      element[name] = value;
    }
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** Says `message` through the polite live region. */
function announce(message) {
  const region = $('announcer');
  // Emptied first, so that the same message twice is announced twice.
  region.textContent = '';
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** Shows `text` in an error paragraph (hidden by CSS while empty). */
function showError(id, text) {
  $(id).textContent = text ?? '';
}

/**
 * Makes `nodes` the children of `container`, touching only what changed:
 * children kept in the same order are never moved, since moving a node drops
 * the focus within it.
 */
function reconcile(container, nodes) {
  const keep = new Set(nodes);
  for (const child of [...container.children]) {
    if (!keep.has(child)) child.remove();
  }
  nodes.forEach((node, i) => {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] ?? null);
  });
}

/** Puts focus back on the same control (by its item's key and test id) when a redraw replaced it. */
function keepingFocus(container, redraw) {
  const focused = document.activeElement;
  const key = container.contains(focused) ? focused.closest('[data-key]')?.dataset.key : undefined;
  const testId = focused?.dataset?.testid;
  redraw();
  if (key && testId && document.activeElement !== focused) {
    container.querySelector(`[data-key="${CSS.escape(key)}"] [data-testid="${CSS.escape(testId)}"]`)?.focus();
  }
}

// ----------------------------------------------------------------- formatting

function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** 75.5 → "1:15.5"; an hour and more → "1:02:03". */
function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const whole = Math.floor(seconds);
  const tenths = Math.round((seconds - whole) * 10) % 10;
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const tail = `${String(s).padStart(2, '0')}${tenths ? `.${tenths}` : ''}`;
  return h ? `${h}:${String(m).padStart(2, '0')}:${tail}` : `${m}:${tail}`;
}

function formatBitrate(bps) {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbit/s` : `${Math.round(bps / 1000)} kbit/s`;
}

function timeElement(iso) {
  const date = new Date(iso);
  return el('time', { dateTime: iso, title: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

/** The asset's kind from its detected MIME type. */
function kindOf(asset) {
  const top = asset.file_type.split('/')[0];
  return KINDS.includes(top) ? top : asset.file_type;
}

// Asset statuses and step statuses.
const STATUS_TONES = { ready: 'good', processing: 'busy', pending: 'busy', failed: 'bad', error: 'bad' };

/** A status word as a badge; the word itself carries the meaning, the colour only repeats it. */
function badge(status, testId) {
  return el('span', { className: `badge ${STATUS_TONES[status] ?? 'neutral'}`, 'data-testid': testId, 'data-status': status }, status);
}

// ------------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

/**
 * Calls `/v1.3{path}` with the session's key (or `key`). `query` values that
 * are arrays become repeated keys; `json` or `form` is the body. Resolves with
 * the parsed answer (null for 204); rejects with an ApiError. A 401 to the
 * session's own key ends the session: the key was revoked.
 */
async function api(path, { method = 'GET', query = {}, json, form, key = storedKey() } = {}) {
  const url = new URL(`/v1.3${path}`, location.origin);
  for (const [name, value] of Object.entries(query)) {
    for (const item of [value].flat()) {
      if (item !== undefined && item !== null && item !== '') url.searchParams.append(name, String(item));
    }
  }
  const headers = key ? { 'x-api-key': key } : {};
  let body = form;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body });
  } catch (error) {
    throw new ApiError(0, 'network', `The server could not be reached (${error.message}).`);
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && key && key === storedKey()) endSession('The server no longer accepts this API key. Sign in again.');
    throw new ApiError(response.status, answer?.code, answer?.message ?? `The server answered ${response.status}.`);
  }
  return answer;
}

/** A sentence for any error the console shows. */
function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

// -------------------------------------------------------------------- session

function setUpSession() {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => endSession('You signed out.'));
  if (storedKey()) {
    showSignedIn();
  } else {
    showSignIn(sessionStorage.getItem(NOTICE_STORAGE));
  }
  sessionStorage.removeItem(NOTICE_STORAGE);
}

async function signIn(event) {
  event.preventDefault();
  const input = $('api-key');
  const key = input.value.trim();
  const submit = $('sign-in-submit');
  if (!key) {
    showError('sign-in-error', 'Enter an API key.');
    input.focus();
    return;
  }
  submit.disabled = true;
  showError('sign-in-error', '');
  try {
    // The cheapest keyed call: it answers 401 for a key the server does not know.
    await api('/assets', { query: { page_limit: 1 }, key });
    sessionStorage.setItem(KEY_STORAGE, key);
    input.value = '';
    showSignedIn();
    announce('Signed in.');
  } catch (error) {
    showError('sign-in-error', error.status === 401
      ? 'This API key was refused. Check that it is complete and not revoked.'
      : `Could not sign in: ${describe(error)}`);
    input.focus();
  } finally {
    submit.disabled = false;
  }
}

/**
 * Forgets the key and reloads: the reload drops every request in flight and
 * everything shown for the old key. Unfinished uploads stay resumable.
 */
function endSession(notice) {
  if (!storedKey()) return;
  sessionStorage.removeItem(KEY_STORAGE);
  sessionStorage.setItem(NOTICE_STORAGE, notice);
  location.reload();
}

function showSignIn(notice) {
  for (const id of ['main-nav', 'sign-out', 'assets-view', 'asset-view', 'operator-view']) $(id).hidden = true;
  $('sign-in-view').hidden = false;
  $('sign-in-notice').textContent = notice ?? '';
  document.title = 'Sign in · assetd console';
  $('api-key').focus();
}

function showSignedIn() {
  $('sign-in-view').hidden = true;
  $('main-nav').hidden = false;
  $('sign-out').hidden = false;
  renderPendingUploads();
  route();
}

// --------------------------------------------------------------------- router

const VIEWS = ['assets-view', 'asset-view', 'operator-view'];
let leaveView = () => {};

/** Shows the view the hash names: `#/assets`, `#/assets/<id>` or `#/operator`. */
function route() {
  if (!storedKey()) return;
  leaveView();
  leaveView = () => {};
  const [, section, id] = location.hash.split('/');
  const current = section === 'operator' ? 'operator' : 'assets';
  for (const link of document.querySelectorAll('#main-nav a')) {
    if (link.dataset.route === current && !id) {
      link.setAttribute('aria-current', 'page');
    } else {
      link.removeAttribute('aria-current');
    }
  }
  if (section === 'operator') {
    showView('operator-view', 'Operator');
    leaveView = enterOperatorView();
  } else if (section === 'assets' && id) {
    showView('asset-view', 'Asset');
    leaveView = enterAssetView(id);
  } else {
    showView('assets-view', 'Assets');
    leaveView = enterAssetList();
  }
}

function showView(id, title) {
  for (const view of VIEWS) $(view).hidden = view !== id;
  document.title = `${title} · assetd console`;
  // A new view is a new page to a screen reader: move focus to its heading.
  $(id).querySelector('h1').focus();
}

function setUpNavigation() {
  window.addEventListener('hashchange', route);
  // The skip link moves focus without changing the hash, which is the router's.
  $('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    $('main').focus();
  });
}

// ----------------------------------------------------------------- asset list

const listState = { page: 1, kind: '', filename: '', timer: 0, generation: 0, active: false, seen: new Map() };

function isBusy(asset) {
  return asset.status === 'processing'
    || [asset.hls, asset.thumbnail].some((step) => step && BUSY_STEP_STATES.includes(step.status));
}

function enterAssetList() {
  listState.active = true;
  refreshAssetList();
  return () => {
    listState.active = false;
    clearTimeout(listState.timer);
  };
}

/** Reads the current page; polls again while any asset on it is still being worked on. */
async function refreshAssetList() {
  clearTimeout(listState.timer);
  const generation = ++listState.generation;
  const { page, kind, filename } = listState;
  try {
    const answer = await api('/assets', { query: { page, page_limit: PAGE_LIMIT, asset_types: kind, filename } });
    // A newer read (a filter changed meanwhile) owns the list now.
    if (generation !== listState.generation || !listState.active) return;
    const { total_page: lastPage } = answer.page_info;
    if (answer.data.length === 0 && page > 1 && lastPage < page) {
      // Past the end (the last asset of the last page went): show the last page.
      listState.page = Math.max(1, lastPage);
      refreshAssetList();
      return;
    }
    showError('list-error', '');
    announceChanges(answer.data);
    renderAssetList(answer);
    if (answer.data.some(isBusy)) listState.timer = setTimeout(refreshAssetList, POLL_MS);
  } catch (error) {
    if (generation !== listState.generation || !listState.active) return;
    showError('list-error', `Could not load the assets: ${describe(error)}`);
    listState.timer = setTimeout(refreshAssetList, POLL_MS * 2);
  }
}

/** What about an asset is worth announcing, one status per part. */
function progressParts(asset) {
  return {
    status: asset.status,
    'HLS stream': asset.hls?.status,
    thumbnail: asset.thumbnail?.status,
  };
}

/** Announces the status changes of assets seen before, e.g. "clip.mp4: HLS stream ready". */
function announceChanges(assets) {
  const changes = [];
  for (const asset of assets) {
    const parts = progressParts(asset);
    const before = listState.seen.get(asset._id);
    listState.seen.set(asset._id, parts);
    if (!before) continue;
    const changed = Object.entries(parts)
      .filter(([part, value]) => value && value !== before[part])
      .map(([part, value]) => (part === 'status' ? `now ${value}` : `${part} ${value}`));
    if (changed.length) changes.push(`${asset.filename}: ${changed.join(', ')}`);
  }
  if (changes.length) announce(`${changes.join('. ')}.`);
}

function renderAssetList({ data, page_info: info }) {
  const container = $('asset-list');
  const existing = new Map([...container.children].map((card) => [card.dataset.key, card]));
  const cards = data.map((asset) => {
    const signature = JSON.stringify(asset);
    const old = existing.get(asset._id);
    if (old && old.dataset.signature === signature) return old;
    const card = assetCard(asset);
    card.dataset.signature = signature;
    return card;
  });
  keepingFocus(container, () => reconcile(container, cards));

  $('list-summary').textContent = listSummary(info.total_results, Boolean(listState.kind || listState.filename));
  $('page-info').textContent = info.total_page > 0 ? `Page ${info.page} of ${info.total_page}` : '';
  $('page-prev').disabled = info.page <= 1;
  $('page-next').disabled = info.page >= info.total_page;
}

function listSummary(count, filtered) {
  if (count === 0) return filtered ? 'No asset matches these filters.' : 'No assets yet: upload one above.';
  const noun = count === 1 ? 'asset' : 'assets';
  if (!filtered) return `${count} ${noun}.`;
  return `${count} ${noun} ${count === 1 ? 'matches' : 'match'}.`;
}

function assetCard(asset) {
  const kind = kindOf(asset);
  return el('li', { className: 'asset-card', 'data-key': asset._id, 'data-testid': 'asset-row', 'data-asset-id': asset._id, 'data-kind': kind },
    thumbnailOf(asset, kind),
    el('h3', {}, el('a', { href: `#/assets/${asset._id}`, 'data-testid': 'asset-link' }, asset.filename)),
    el('dl', { className: 'facts' },
      fact('Kind', kind),
      fact('Status', badge(asset.status, 'asset-status')),
      asset.hls && fact('HLS stream', badge(asset.hls.status, 'asset-hls-status')),
      asset.thumbnail && fact('Thumbnail', badge(asset.thumbnail.status, 'asset-thumbnail-status')),
      asset.size !== undefined && fact('Size', formatBytes(asset.size)),
      asset.duration !== undefined && fact('Duration', formatDuration(asset.duration)),
      fact('Created', timeElement(asset.created_at))),
    asset.error && el('p', { className: 'error', 'data-testid': 'asset-error-message' }, asset.error.message));
}

/** The thumbnail when there is one; else a placeholder naming the kind. */
function thumbnailOf(asset, kind) {
  const url = asset.thumbnail?.representative_url;
  // Decorative here: the filename next to it names the asset.
  return url
    ? el('img', { className: 'thumb', src: url, alt: '', width: 320, height: 180, 'data-testid': 'asset-thumbnail' })
    : el('div', { className: 'thumb placeholder', 'aria-hidden': 'true' }, kind);
}

function fact(term, ...details) {
  return [el('dt', {}, term), el('dd', {}, ...details)];
}

function setUpAssetList() {
  const applyFilters = () => {
    listState.kind = $('filter-kind').value;
    listState.filename = $('filter-name').value.trim();
    listState.page = 1;
    refreshAssetList();
  };
  let typing = 0;
  $('filter-form').addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(typing);
    applyFilters();
  });
  $('filter-kind').addEventListener('change', applyFilters);
  // Filter while typing, once the typing pauses.
  $('filter-name').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(applyFilters, 300);
  });
  $('page-prev').addEventListener('click', () => turnPage(-1));
  $('page-next').addEventListener('click', () => turnPage(1));
}

function turnPage(step) {
  listState.page = Math.max(1, listState.page + step);
  refreshAssetList();
}

/** Shows the list's newest state at once (after an upload began or ended) when it is on screen. */
function refreshAssetListIfShown() {
  if (listState.active) refreshAssetList();
}

// -------------------------------------------------------------------- uploads
//
// The multipart flow: a session gives the chunk size and signed URLs; each
// chunk is PUT to its URL (XMLHttpRequest, for upload progress) and reported
// with its ETag as proof; the report that completes the set carries `url`.
// The session is kept in localStorage until it completes, so that after a
// reload the user can pick the same file again and send only what is missing.

// Upload ids whose file this page holds (sending, or stopped with a Resume
// button); the others of localStorage are listed for their file to be chosen again.
const uploadsInPage = new Set();

function uploadOptions() {
  return { enable_hls: $('option-hls').checked, enable_thumbnail: $('option-thumbnail').checked };
}

/** video, audio or image, from the file's MIME type; null for anything else. */
function uploadKind(file) {
  const top = file.type.split('/')[0];
  return KINDS.includes(top) ? top : null;
}

function savedUploads() {
  try {
    return JSON.parse(localStorage.getItem(UPLOADS_STORAGE)) ?? [];
  } catch {
    return []; // unreadable: nothing to resume
  }
}

function saveUpload(record) {
  localStorage.setItem(UPLOADS_STORAGE, JSON.stringify([...savedUploads().filter((r) => r.upload_id !== record.upload_id), record]));
}

function forgetUpload(uploadId) {
  localStorage.setItem(UPLOADS_STORAGE, JSON.stringify(savedUploads().filter((r) => r.upload_id !== uploadId)));
  renderPendingUploads();
}

function setUpUploads() {
  const input = $('file-input');
  input.addEventListener('change', () => {
    startUploads([...input.files]);
    input.value = ''; // the same file may be chosen again
  });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    startUploads([...event.dataTransfer.files]);
  });
  $('url-form').addEventListener('submit', uploadFromUrl);
}

function startUploads(files) {
  const options = uploadOptions();
  for (const file of files) uploadFile(file, options);
}

/** One file, from a new session to its asset being ready. */
async function uploadFile(file, options) {
  const item = new UploadItem(file.name);
  const type = uploadKind(file);
  if (!type) {
    item.fail(`Not uploaded: ${file.type ? `“${file.type}”` : 'a file of unknown type'} is not video, audio or image.`);
    return;
  }
  let record;
  try {
    const session = await api('/assets/multipart-uploads', {
      method: 'POST',
      json: { filename: file.name, type, total_size: file.size, ...options },
    });
    record = {
      upload_id: session.upload_id,
      asset_id: session.asset_id,
      name: file.name,
      size: file.size,
      lastModified: file.lastModified,
      chunk_size: session.chunk_size,
      total_chunks: session.total_chunks,
      options,
    };
    saveUpload(record);
    refreshAssetListIfShown(); // its asset exists now, processing
    await sendFile(file, record, item, new Set(), session.upload_urls);
  } catch (error) {
    failUpload(file, record, item, error);
  }
}

/** Sends what is missing of the file of an earlier session, after a reload or a failure. */
async function resumeUpload(file, record, item) {
  try {
    const { state, completed } = await uploadStatus(record.upload_id);
    if (state === 'completed') {
      await finishUpload(record, item);
    } else if (state !== 'active') {
      forgetUpload(record.upload_id);
      item.fail(`The server ended this upload (${state}). Upload the file again.`);
    } else {
      await sendFile(file, record, item, completed, []);
    }
  } catch (error) {
    failUpload(file, record, item, error);
  }
}

/** An upload that stopped: resumable from this page while its session lives. */
function failUpload(file, record, item, error) {
  const gone = error instanceof ApiError && (error.status === 404 || error.code === 'upload_not_active');
  if (record && gone) {
    uploadsInPage.delete(record.upload_id);
    forgetUpload(record.upload_id);
  }
  const resume = record && !gone ? () => resumeUpload(file, record, item) : null;
  item.fail(`Upload stopped: ${describe(error)}`, resume);
  announce(`Upload of ${file.name} stopped.`);
}

/** The session's state and the chunks it has been told about, reading every page of the status. */
async function uploadStatus(uploadId) {
  const completed = new Set();
  for (let page = 1; ; page += 1) {
    const status = await api(`/assets/multipart-uploads/${uploadId}`, { query: { page, page_limit: STATUS_PAGE_LIMIT } });
    for (const chunk of status.uploaded_chunks) {
      if (chunk.status === 'completed') completed.add(chunk.index);
    }
    if (status.uploaded_chunks.length < STATUS_PAGE_LIMIT || page >= status.page_info.total_page) {
      return { state: status.status, completed };
    }
  }
}

/** PUTs and reports every chunk not in `done`, a few at a time, then follows the asset. */
async function sendFile(file, record, item, done, initialUrls) {
  uploadsInPage.add(record.upload_id);
  renderPendingUploads();
  item.uploading();
  const urls = new ChunkUrls(record, initialUrls);
  const progress = new ByteProgress(record, done, item);
  const queue = [];
  for (let index = 1; index <= record.total_chunks; index += 1) {
    if (!done.has(index)) queue.push(index);
  }
  let failure = null;
  let completedBy = null;
  const sendChunks = async () => {
    // Stops taking chunks once any chunk failed: the upload is resumable anyway.
    while (queue.length && !failure) {
      const index = queue.shift();
      try {
        const outcome = await sendChunk(file, record, index, urls, (loaded) => progress.set(index, loaded));
        if (outcome.url) completedBy = outcome;
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHUNKS_AT_ONCE, queue.length) }, sendChunks));
  if (failure) throw failure;
  // Reports that race may each see the set incomplete: then the session's status decides.
  if (!completedBy && (await uploadStatus(record.upload_id)).state !== 'completed') {
    throw new Error('The server did not complete the upload after every chunk was reported.');
  }
  await finishUpload(record, item);
}

async function sendChunk(file, record, index, urls, onProgress) {
  const start = (index - 1) * record.chunk_size;
  const bytes = file.slice(start, Math.min(start + record.chunk_size, record.size));
  const url = await urls.get(index);
  const etag = await putWithRetries(url, bytes, onProgress);
  return api(`/assets/multipart-uploads/${record.upload_id}`, {
    method: 'POST',
    json: { completed_chunks: [{ chunk_index: index, proof: etag, proof_type: 'etag', chunk_size: bytes.size }] },
  });
}

/** The bytes are all on the server: the session is done; wait for the asset's verdict. */
async function finishUpload(record, item) {
  uploadsInPage.delete(record.upload_id);
  forgetUpload(record.upload_id);
  item.processing();
  announce(`${record.name} is uploaded and being processed.`);
  refreshAssetListIfShown();
  const asset = await waitForAsset(record.asset_id);
  item.settled(asset);
  announce(asset.status === 'ready' ? `${record.name} is ready.` : `${record.name} failed: ${asset.error?.message ?? 'no reason given'}.`);
  refreshAssetListIfShown();
}

/** Polls an asset until it is no longer processing. */
async function waitForAsset(assetId) {
  for (;;) {
    const asset = await api(`/assets/${assetId}`);
    if (asset.status !== 'processing') return asset;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The signed chunk URLs of a session, asked for in batches as the upload reaches them. */
class ChunkUrls {
  constructor(record, initial) {
    this.record = record;
    this.urls = new Map(initial.map((entry) => [entry.chunk_index, entry.url]));
    this.loading = null;
  }

  async get(index) {
    // Twice at most: once to wait for a batch another chunk asked for, once for our own.
    for (let round = 0; !this.urls.has(index); round += 1) {
      if (round === 2) throw new Error(`The server gave no URL for chunk ${index}.`);
      this.loading ??= this.load(index).finally(() => {
        this.loading = null;
      });
      await this.loading;
    }
    return this.urls.get(index);
  }

  async load(start) {
    const count = Math.min(URLS_PER_REQUEST, this.record.total_chunks - start + 1);
    const answer = await api(`/assets/multipart-uploads/${this.record.upload_id}/presigned-urls`, {
      method: 'POST',
      json: { start, count },
    });
    for (const entry of answer.upload_urls) this.urls.set(entry.chunk_index, entry.url);
  }
}

class ChunkError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }

  /** A dropped connection or a server in trouble may do better next time; a refusal will not. */
  get transient() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** PUTs one chunk, retrying transient failures on the same URL with growing pauses; resolves with its ETag. */
async function putWithRetries(url, bytes, onProgress) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await put(url, bytes, onProgress);
    } catch (error) {
      onProgress(0);
      if (!error.transient || attempt >= CHUNK_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, CHUNK_RETRY_BASE_MS * 2 ** (attempt - 1)));
    }
  }
}

function put(url, bytes, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('PUT', url);
    request.setRequestHeader('content-type', 'application/octet-stream');
    request.upload.addEventListener('progress', (event) => onProgress(event.loaded));
    request.addEventListener('load', () => {
      // The ETag is the proof, quotes included, exactly as received.
      const etag = request.getResponseHeader('etag');
      if (request.status >= 200 && request.status < 300 && etag) {
        resolve(etag);
      } else {
        reject(new ChunkError(request.status, chunkErrorMessage(request)));
      }
    });
    request.addEventListener('error', () => reject(new ChunkError(0, 'the connection failed while sending a chunk')));
    request.send(bytes);
  });
}

function chunkErrorMessage(request) {
  try {
    return JSON.parse(request.responseText).message;
  } catch {
    return `a chunk was answered ${request.status}`;
  }
}

/** Bytes sent so far: the chunks done before, plus each chunk's bytes in flight. */
class ByteProgress {
  constructor(record, done, item) {
    this.record = record;
    this.item = item;
    this.base = [...done].reduce((sum, index) => sum + this.chunkBytes(index), 0);
    this.inFlight = new Map();
    item.progress(this.base, record.size);
  }

  chunkBytes(index) {
    return Math.min(this.record.chunk_size, this.record.size - (index - 1) * this.record.chunk_size);
  }

  set(index, loaded) {
    this.inFlight.set(index, loaded);
    const sent = this.base + [...this.inFlight.values()].reduce((sum, bytes) => sum + bytes, 0);
    this.item.progress(sent, this.record.size);
  }
}

/** One upload in the list: its name, a progress bar, and what is happening to it. */
class UploadItem {
  constructor(name) {
    UploadItem.count = (UploadItem.count ?? 0) + 1;
    const id = `upload-${UploadItem.count}`;
    this.name = name;
    this.bar = el('progress', { id, max: 1, value: 0, 'data-testid': 'upload-progress' });
    this.text = el('p', { className: 'upload-status', 'data-testid': 'upload-status' }, 'Starting…');
    this.actions = el('div', { className: 'actions' });
    this.root = el('li', { className: 'upload-item', 'data-testid': 'upload-item', 'data-state': 'starting', 'data-filename': name },
      el('label', { for: id, className: 'upload-name' }, name), this.bar, this.text, this.actions);
    $('upload-list').prepend(this.root);
    announce(`Uploading ${name}.`);
  }

  state(name, text) {
    this.root.dataset.state = name;
    this.text.textContent = text;
    this.actions.replaceChildren();
  }

  uploading() {
    this.state('uploading', 'Uploading…');
  }

  progress(sent, total) {
    this.bar.value = total ? sent / total : 1;
    this.text.textContent = `Uploading: ${formatBytes(sent)} of ${formatBytes(total)} (${Math.floor((100 * sent) / (total || 1))}%)`;
  }

  processing() {
    this.bar.value = 1;
    this.state('processing', 'Uploaded. The server is processing it…');
  }

  settled(asset) {
    if (asset.status === 'ready') {
      this.state('ready', 'Ready. ');
      this.text.append(el('a', { href: `#/assets/${asset._id}`, 'data-testid': 'upload-open' }, `Open ${asset.filename}`));
    } else {
      this.state('failed', `The server could not use this file: ${asset.error?.message ?? 'no reason given'}`);
    }
  }

  /** Shows why it stopped; `resume`, when given, becomes a button. */
  fail(message, resume) {
    this.state('failed', message);
    if (resume) {
      this.actions.append(el('button', {
        type: 'button',
        className: 'secondary',
        'data-testid': 'upload-resume',
        onclick: resume,
      }, `Resume ${this.name}`));
    }
  }
}

/** The unfinished uploads of earlier pages, each waiting for its file to be chosen again. */
function renderPendingUploads() {
  const pending = savedUploads().filter((record) => !uploadsInPage.has(record.upload_id));
  $('pending-uploads').hidden = pending.length === 0;
  $('pending-list').replaceChildren(...pending.map(pendingUploadItem));
}

function pendingUploadItem(record) {
  const inputId = `resume-${record.upload_id}`;
  const error = el('p', { className: 'error', role: 'alert', 'data-testid': 'pending-error' });
  const input = el('input', { type: 'file', id: inputId, 'data-testid': 'resume-input' });
  input.addEventListener('change', () => {
    const [file] = input.files;
    if (!file) return;
    if (file.name !== record.name || file.size !== record.size || file.lastModified !== record.lastModified) {
      error.textContent = `That is not the same file: choose “${record.name}” (${formatBytes(record.size)}) as it was.`;
      input.value = '';
      return;
    }
    uploadsInPage.add(record.upload_id);
    renderPendingUploads();
    resumeUpload(file, record, new UploadItem(file.name));
  });
  return el('li', { className: 'upload-item', 'data-testid': 'pending-upload', 'data-upload-id': record.upload_id },
    el('p', { className: 'upload-name' }, `${record.name} (${formatBytes(record.size)})`),
    el('label', { for: inputId }, `Choose “${record.name}” again to resume`),
    input,
    el('button', {
      type: 'button',
      className: 'secondary',
      'data-testid': 'forget-upload',
      onclick: () => forgetUpload(record.upload_id),
    }, `Forget ${record.name}`),
    error);
}

/** `method=url`: the server downloads the file itself. */
async function uploadFromUrl(event) {
  event.preventDefault();
  const input = $('url-input');
  const status = $('url-status');
  if (!input.checkValidity()) {
    status.textContent = 'Enter a full http or https URL.';
    status.className = 'form-status error';
    input.focus();
    return;
  }
  const form = new FormData();
  form.append('method', 'url');
  form.append('url', input.value.trim());
  for (const [name, value] of Object.entries(uploadOptions())) form.append(name, String(value));
  $('url-submit').disabled = true;
  status.className = 'form-status';
  status.textContent = 'Asking the server to fetch it…';
  try {
    const asset = await api('/assets', { method: 'POST', form });
    status.textContent = `Added ${asset.filename} (${asset.status}).`;
    announce(status.textContent);
    input.value = '';
    refreshAssetListIfShown();
  } catch (error) {
    status.className = 'form-status error';
    status.textContent = `Not added: ${describe(error)}`;
  } finally {
    $('url-submit').disabled = false;
  }
}

// ------------------------------------------------------------------ asset page

/** Shows one asset; polls while it or its steps are still being worked on. Returns what leaving does. */
function enterAssetView(assetId) {
  const page = { assetId, timer: 0, left: false, stopPlayer: () => {}, signature: '' };
  $('asset-title').textContent = 'Asset';
  showError('asset-error', '');
  // The id goes into API paths: anything but an id (32 hex digits, or a hyphenated UUID) is no asset.
  if (!ASSET_ID.test(assetId)) {
    $('asset-body').replaceChildren();
    showError('asset-error', 'There is no such asset in this account.');
    return () => {};
  }
  $('asset-body').replaceChildren(el('p', {}, 'Loading…'));
  loadAsset(page);
  return () => {
    page.left = true;
    clearTimeout(page.timer);
    page.stopPlayer();
  };
}

async function loadAsset(page) {
  try {
    const asset = await api(`/assets/${page.assetId}`);
    if (page.left) return;
    showError('asset-error', '');
    const signature = JSON.stringify(asset);
    if (signature !== page.signature) {
      if (page.signature) announceChanges([asset]);
      page.signature = signature;
      renderAsset(page, asset);
    }
    listState.seen.set(asset._id, progressParts(asset));
    if (isBusy(asset)) page.timer = setTimeout(() => loadAsset(page), POLL_MS);
  } catch (error) {
    if (page.left) return;
    if (error.status === 404) {
      $('asset-body').replaceChildren();
      showError('asset-error', 'There is no such asset in this account.');
    } else {
      // Keeps what is shown, and tries again.
      showError('asset-error', `Could not load the asset: ${describe(error)}`);
      page.timer = setTimeout(() => loadAsset(page), POLL_MS * 2);
    }
  }
}

/**
 * Draws the page; the player, once made, is kept across redraws so that
 * playback goes on while a thumbnail finishes.
 */
function renderAsset(page, asset) {
  $('asset-title').textContent = asset.filename;
  document.title = `${asset.filename} · assetd console`;
  const body = $('asset-body');
  page.sections ??= {
    player: el('section', { className: 'player', 'aria-labelledby': 'playback-title' }),
    details: el('div', { className: 'details' }),
    references: el('section', { 'aria-labelledby': 'references-title', 'data-testid': 'asset-references' }),
    removal: deleteSection(page, asset),
  };
  const { player, details, references, removal } = page.sections;
  if (!body.contains(player)) {
    body.replaceChildren(player, details, references, removal);
    loadReferences(page, references);
  }
  renderPlayer(page, player, asset);
  const parts = [
    factsSection(asset),
    asset.thumbnail?.representative_url && thumbnailSection(asset),
    asset.technical_metadata && technicalSection(asset.technical_metadata),
    asset.user_metadata && userMetadataSection(asset.user_metadata),
  ];
  details.replaceChildren(...parts.filter(Boolean));
}

function factsSection(asset) {
  return el('section', { 'aria-labelledby': 'facts-title' },
    el('h2', { id: 'facts-title' }, 'Overview'),
    el('dl', { className: 'facts wide', 'data-testid': 'asset-facts' },
      fact('Kind', kindOf(asset)),
      fact('Status', badge(asset.status, 'asset-status'), asset.error && el('span', { className: 'error' }, ` ${asset.error.message}`)),
      asset.hls && fact('HLS stream', badge(asset.hls.status, 'asset-hls-status'), asset.hls.error && el('span', { className: 'error' }, ` ${asset.hls.error.message}`)),
      asset.thumbnail && fact('Thumbnail', badge(asset.thumbnail.status, 'asset-thumbnail-status'), asset.thumbnail.error && el('span', { className: 'error' }, ` ${asset.thumbnail.error.message}`)),
      fact('File type', asset.file_type),
      asset.size !== undefined && fact('Size', formatBytes(asset.size)),
      asset.duration !== undefined && fact('Duration', formatDuration(asset.duration)),
      fact('Uploaded by', { direct: 'direct upload', url: 'URL', multipart: 'multipart upload' }[asset.method] ?? asset.method),
      fact('Created', timeElement(asset.created_at)),
      fact('ID', el('code', {}, asset._id))));
}

function renderPlayer(page, section, asset) {
  const manifest = asset.hls?.manifest_url;
  if (section.querySelector('video')) return; // playing, or ready to: leave it be
  const heading = el('h2', { id: 'playback-title' }, 'Playback');
  if (!manifest) {
    section.hidden = kindOf(asset) === 'image';
    section.replaceChildren(heading, el('p', {}, playbackUnavailable(asset)));
    return;
  }
  section.hidden = false;
  const video = el('video', {
    controls: true,
    playsInline: true,
    preload: 'metadata',
    poster: asset.thumbnail?.representative_url,
    'aria-label': `Play ${asset.filename}`,
    'data-testid': 'asset-video',
  });
  const problem = el('p', { className: 'error', role: 'alert', 'data-testid': 'player-error' });
  section.replaceChildren(heading, video, problem);
  page.stopPlayer = playHls(video, manifest, (message) => {
    problem.textContent = message;
  });
}

function playbackUnavailable(asset) {
  if (!asset.hls) return 'No HLS stream was asked for when this asset was uploaded.';
  if (asset.hls.status === 'error') return `The HLS stream could not be made: ${asset.hls.error?.message ?? 'no reason given'}`;
  return `The HLS stream is ${asset.hls.status}; it plays here once it is ready.`;
}

/**
 * Plays an HLS manifest: hls.js (Media Source Extensions) wherever it works,
 * the browser's own HLS (Safari on iOS) only where it does not. Returns what
 * stops it.
 */
function playHls(video, manifest, onProblem) {
  const Hls = window.Hls;
  if (Hls?.isSupported()) {
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) onProblem(`The stream cannot be played (${data.type}: ${data.details}).`);
    });
    hls.loadSource(manifest);
    hls.attachMedia(video);
    return () => hls.destroy();
  }
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = manifest;
    return () => {
      video.removeAttribute('src');
      video.load();
    };
  }
  onProblem('This browser cannot play HLS streams.');
  return () => {};
}

function thumbnailSection(asset) {
  return el('section', { 'aria-labelledby': 'thumbnail-title' },
    el('h2', { id: 'thumbnail-title' }, 'Thumbnail'),
    el('img', { className: 'detail-thumb', src: asset.thumbnail.representative_url, alt: `Thumbnail of ${asset.filename}`, 'data-testid': 'asset-detail-thumbnail' }));
}

// Labels for the platform's technical metadata names; others are spelled out from the name.
const TECHNICAL_LABELS = {
  file_size_bytes: 'File size',
  file_mime_type: 'MIME type',
  file_container_format: 'Container',
  video_fps: 'Frame rate',
  video_bitrate_bps: 'Video bitrate',
  video_duration_seconds: 'Video duration',
  audio_bitrate_bps: 'Audio bitrate',
  audio_duration_seconds: 'Audio duration',
  audio_sample_rate: 'Sample rate',
  is_hdr: 'HDR',
  total_video_streams: 'Number of video streams',
  total_audio_streams: 'Number of audio streams',
  fps: 'Frame rate',
  avg_fps: 'Average frame rate',
  bitrate_bps: 'Bitrate',
  duration_seconds: 'Duration',
  sample_rate: 'Sample rate',
};

const STREAM_TITLES = { video_streams: 'Video streams', audio_streams: 'Audio streams' };

// Shown file facts first, then video, audio, image; the rest after, each group in the server's order.
const TECHNICAL_GROUPS = ['file_', 'video_', 'audio_', 'image_'];

function technicalRank([name]) {
  const group = TECHNICAL_GROUPS.findIndex((prefix) => name.startsWith(prefix));
  return group === -1 ? TECHNICAL_GROUPS.length : group;
}

function technicalLabel(name) {
  const spelled = name.replaceAll('_', ' ');
  return TECHNICAL_LABELS[name] ?? spelled.charAt(0).toUpperCase() + spelled.slice(1);
}

/** A technical value in words and units, chosen by the field's name. */
function technicalValue(name, value) {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value !== 'number') return typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (name.endsWith('_bytes')) return formatBytes(value);
  if (name.endsWith('_bps')) return formatBitrate(value);
  if (name.endsWith('_seconds')) return formatDuration(value);
  if (name.endsWith('fps')) return `${Number(value.toFixed(3))} fps`;
  if (name.endsWith('sample_rate')) return `${value} Hz`;
  if (name.endsWith('width') || name.endsWith('height')) return `${value} px`;
  if (name === 'rotation') return `${value}°`;
  return String(value);
}

function technicalSection(metadata) {
  const entries = Object.entries(metadata).sort((a, b) => technicalRank(a) - technicalRank(b));
  const scalars = entries.filter(([, value]) => !Array.isArray(value));
  const lists = entries.filter(([, value]) => Array.isArray(value) && value.length > 0);
  return el('section', { 'aria-labelledby': 'technical-title' },
    el('h2', { id: 'technical-title' }, 'Technical metadata'),
    el('dl', { className: 'facts wide', 'data-testid': 'technical-metadata' },
      scalars.map(([name, value]) => fact(technicalLabel(name), technicalValue(name, value)))),
    lists.map(([name, rows]) => streamTable(STREAM_TITLES[name] ?? technicalLabel(name), rows)));
}

/** One row per stream, one column per field any of them has (index and codec first). */
function streamTable(title, rows) {
  const columns = [...new Set(['index', 'codec', ...rows.flatMap((row) => Object.keys(row))])]
    .filter((name) => rows.some((row) => row[name] !== undefined));
  return dataTable(title, columns.map(technicalLabel), rows.map((row) => columns.map((name) => (row[name] === undefined ? '' : technicalValue(name, row[name])))), 'stream-table');
}

function userMetadataSection(metadata) {
  return el('section', { 'aria-labelledby': 'user-metadata-title' },
    el('h2', { id: 'user-metadata-title' }, 'User metadata'),
    el('dl', { className: 'facts wide', 'data-testid': 'user-metadata' },
      Object.entries(metadata).map(([name, value]) => fact(name, Array.isArray(value) ? value.join(', ') : String(value)))));
}

/**
 * A table whose cells carry their column's name, so that on a narrow screen
 * CSS can stack each row into a card instead of scrolling sideways.
 */
function dataTable(caption, headers, rows, testId) {
  return el('table', { className: 'data', 'data-testid': testId },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, headers.map((header) => el('th', { scope: 'col' }, header)))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell, i) => el('td', { 'data-label': headers[i] }, cell))))));
}

async function loadReferences(page, section) {
  section.replaceChildren(el('h2', { id: 'references-title' }, 'Indexes that use it'), el('p', {}, 'Loading…'));
  try {
    const references = await assetReferences(page.assetId);
    if (page.left) return;
    section.replaceChildren(section.firstChild, references.length
      ? referenceList(references)
      : el('p', { 'data-testid': 'no-references' }, 'No index references this asset.'));
  } catch (error) {
    section.replaceChildren(section.firstChild, el('p', { className: 'error' }, `Could not load them: ${describe(error)}`));
  }
}

/** Every indexed asset that references the asset (all pages). */
async function assetReferences(assetId) {
  const all = [];
  for (let page = 1; ; page += 1) {
    const answer = await api(`/assets/${assetId}/indexed-assets`, { query: { page, page_limit: 50 } });
    all.push(...answer.data);
    if (answer.data.length === 0 || page >= answer.page_info.total_page) return all;
  }
}

function referenceList(references) {
  return el('ul', { className: 'references', 'data-testid': 'reference-list' },
    references.map((reference) => el('li', { 'data-testid': 'reference' },
      el('strong', {}, reference.index.name), ' ', el('span', { className: 'muted' }, `(index ${reference.index._id}, indexed asset ${reference._id})`))));
}

/**
 * Delete, confirmed first; a 409 (indexes reference the asset) explains
 * which, and offers to delete those references too.
 */
function deleteSection(page, asset) {
  const start = el('button', { type: 'button', className: 'danger', 'data-testid': 'delete-asset' }, 'Delete this asset');
  const confirmBox = el('div', { className: 'confirm', hidden: true, 'data-testid': 'delete-confirm' });
  const status = el('p', { className: 'error', role: 'alert', 'data-testid': 'delete-error' });
  const cancelButton = () => el('button', {
    type: 'button',
    className: 'secondary',
    onclick: () => {
      confirmBox.hidden = true;
      start.hidden = false;
      start.focus();
    },
  }, 'Cancel');

  const attempt = async (force) => {
    status.textContent = '';
    try {
      await api(`/assets/${asset._id}`, { method: 'DELETE', query: { force: force ? 'true' : undefined } });
      listState.seen.delete(asset._id);
      announce(`Deleted ${asset.filename}.`);
      location.hash = '#/assets';
    } catch (error) {
      if (error.status === 409) {
        await showConflict();
      } else {
        status.textContent = `Not deleted: ${describe(error)}`;
      }
    }
  };

  const showConflict = async () => {
    const references = await assetReferences(asset._id).catch(() => []);
    const force = el('button', { type: 'button', className: 'danger', 'data-testid': 'delete-force', onclick: () => attempt(true) }, 'Delete anyway');
    confirmBox.replaceChildren(
      el('div', { role: 'alert', 'data-testid': 'delete-conflict' },
        el('p', {}, `${asset.filename} was not deleted: ${references.length || 'some'} indexed ${references.length === 1 ? 'asset uses' : 'assets use'} it.`),
        references.length > 0 && referenceList(references),
        el('p', {}, 'Delete anyway removes those indexed assets from their indexes too.')),
      el('div', { className: 'actions' }, force, cancelButton()));
    force.focus();
  };

  start.addEventListener('click', () => {
    const yes = el('button', { type: 'button', className: 'danger', 'data-testid': 'delete-confirm-yes', onclick: () => attempt(false) }, `Yes, delete ${asset.filename}`);
    confirmBox.replaceChildren(
      el('p', {}, `Delete ${asset.filename}? Its file, thumbnail and HLS stream are removed for good.`),
      el('div', { className: 'actions' }, yes, cancelButton()));
    confirmBox.hidden = false;
    start.hidden = true;
    yes.focus();
  });

  return el('section', { className: 'danger-zone', 'aria-labelledby': 'delete-title' },
    el('h2', { id: 'delete-title' }, 'Delete'),
    start, confirmBox, status);
}

// -------------------------------------------------------------- operator view

const JOB_STATES = ['queued', 'running', 'failed', 'cancelled'];

function enterOperatorView() {
  const view = { left: false };
  loadOperator(view);
  const refresh = () => loadOperator(view);
  $('operator-refresh').addEventListener('click', refresh);
  return () => {
    view.left = true;
    $('operator-refresh').removeEventListener('click', refresh);
  };
}

async function loadOperator(view) {
  showError('operator-error', '');
  const [jobs, hooks] = await Promise.allSettled([api('/jobs'), loadWebhooks()]);
  if (view.left) return;
  if (jobs.status === 'fulfilled') {
    $('job-counts').replaceChildren(jobCountsTable(jobs.value.counts));
    $('failed-jobs').replaceChildren(failedJobsTable(jobs.value.failed, view));
  } else {
    showError('operator-error', `Could not load the jobs: ${describe(jobs.reason)}`);
  }
  if (hooks.status === 'fulfilled') {
    $('webhooks').replaceChildren(hooks.value.length ? webhookList(hooks.value) : el('p', {}, 'No webhooks are registered for this account.'));
  } else {
    $('webhooks').replaceChildren(el('p', { className: 'error' }, `Could not load the webhooks: ${describe(hooks.reason)}`));
  }
}

/** Kinds down, states across; states the server adds later get their own columns. */
function jobCountsTable(counts) {
  if (counts.length === 0) return el('p', { 'data-testid': 'no-jobs' }, 'No background jobs: everything asked for is done.');
  const states = [...new Set([...JOB_STATES, ...counts.map((count) => count.state)])];
  const kinds = [...new Set(counts.map((count) => count.kind))];
  const countOf = (kind, state) => counts.find((c) => c.kind === kind && c.state === state)?.count ?? 0;
  const heading = (state) => state.charAt(0).toUpperCase() + state.slice(1);
  const table = dataTable('Jobs by kind and state (finished jobs are not kept)', ['Kind', ...states.map(heading)],
    kinds.map((kind) => [kind, ...states.map((state) => String(countOf(kind, state)))]), 'job-counts-table');
  // Each count cell says which kind and state it counts, for tests and styles.
  table.querySelectorAll('tbody tr').forEach((row, r) => {
    [...row.cells].slice(1).forEach((cell, s) => {
      cell.dataset.kind = kinds[r];
      cell.dataset.state = states[s];
    });
  });
  return table;
}

function failedJobsTable(failed, view) {
  if (failed.length === 0) return el('p', { 'data-testid': 'no-failed-jobs' }, 'No job has failed.');
  const withButton = new Set(); // a retry queues all of an asset's failed jobs: one button per asset
  const retryCell = (job) => {
    if (withButton.has(job.asset_id)) return '';
    withButton.add(job.asset_id);
    return el('button', {
      type: 'button',
      className: 'secondary',
      'data-testid': 'retry-job',
      'aria-label': `Retry the failed jobs of asset ${job.asset_id}`,
      onclick: (event) => retryAsset(event.currentTarget, job.asset_id, view),
    }, 'Retry');
  };
  return dataTable('The latest failed jobs', ['Kind', 'Asset', 'Attempts', 'Error', 'Failed at', 'Action'],
    failed.map((job) => [
      job.kind,
      el('a', { href: `#/assets/${job.asset_id}` }, el('code', {}, job.asset_id)),
      String(job.attempts),
      el('span', { 'data-testid': 'failed-job-error' }, job.last_error ?? 'no message'),
      timeElement(job.updated_at),
      retryCell(job),
    ]), 'failed-jobs-table');
}

async function retryAsset(button, assetId, view) {
  button.disabled = true;
  try {
    const { retried } = await api(`/assets/${assetId}/retry`, { method: 'POST' });
    announce(retried.length ? `Queued again: ${retried.join(', ')}.` : 'Nothing to retry: no job of this asset has failed.');
    await loadOperator(view);
    $('failed-title').focus(); // the button is gone with the redrawn table
  } catch (error) {
    button.disabled = false;
    showError('operator-error', `Could not retry: ${describe(error)}`);
  }
}

/** The account's webhooks, each with its last deliveries. */
async function loadWebhooks() {
  const { data } = await api('/webhooks');
  return Promise.all(data.map(async (hook) => ({
    hook,
    deliveries: (await api(`/webhooks/${hook._id}/deliveries`)).data.slice(0, DELIVERIES_SHOWN),
  })));
}

function webhookList(entries) {
  return el('ul', { className: 'webhooks' }, entries.map(({ hook, deliveries }) => el('li', { 'data-testid': 'webhook', 'data-webhook-id': hook._id },
    el('h3', { className: 'webhook-url' }, hook.url),
    el('p', {}, `Events: ${hook.events?.length ? hook.events.join(', ') : 'all'}. Registered `, timeElement(hook.created_at), '.'),
    deliveries.length
      ? dataTable(`Last deliveries to ${hook.url}`, ['When', 'Event', 'Attempt', 'Result', 'Took'],
        deliveries.map((delivery) => [
          timeElement(delivery.created_at),
          delivery.type,
          String(delivery.attempt),
          deliveryResult(delivery),
          `${delivery.duration_ms} ms`,
        ]), 'webhook-deliveries')
      : el('p', {}, 'Nothing delivered yet.'))));
}

function deliveryResult(delivery) {
  const ok = delivery.status_code >= 200 && delivery.status_code < 300;
  const text = delivery.status_code ? `HTTP ${delivery.status_code}` : 'no answer';
  return el('span', { className: ok ? 'good-text' : 'bad-text', 'data-testid': 'delivery-result' },
    delivery.error ? `${text}: ${delivery.error}` : text);
}

// ---------------------------------------------------------------------- start

setUpNavigation();
setUpAssetList();
setUpUploads();
setUpSession();
