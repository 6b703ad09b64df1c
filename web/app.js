// Shared by every page: API calls that turn problem+json into a readable
// error, the live-events connection (WebSocket) with its indicator, and a
// few DOM and formatting helpers. No framework, no build step: each page
// imports what it needs from here.

// An error from clipgate: message is the problem's "detail" sentence.
export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

// Throws ApiError for a non-2xx answer, reading problem+json when present.
export async function check(resp) {
  if (resp.ok) return resp;
  let title = resp.statusText;
  let detail = '';
  const type = resp.headers.get('Content-Type') || '';
  try {
    if (type.includes('json')) {
      const p = await resp.json();
      title = p.title || title;
      detail = p.detail || '';
    } else {
      detail = (await resp.text()).slice(0, 300);
    }
  } catch (_) { /* an unreadable body keeps the status line */ }
  throw new ApiError(resp.status, title, detail || `${resp.status} ${title}`);
}

// fetch + check; JSON answers are parsed.
export async function api(path, opts = {}) {
  const resp = await check(await fetch(path, { cache: 'no-store', ...opts }));
  const type = resp.headers.get('Content-Type') || '';
  return type.includes('json') ? resp.json() : resp;
}

// el('a', {href: '/', class: 'x'}, 'text', child...) -> element.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// 75.5 -> "1:15.5"; 3725 -> "1:02:05".
export function fmtTime(s, decimals = 1) {
  if (!Number.isFinite(s)) return '–';
  const neg = s < 0;
  s = Math.abs(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const ss = sec.toFixed(decimals).padStart(decimals ? 3 + decimals : 2, '0');
  const out = h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  return (neg ? '-' : '') + out;
}

export function fmtBitrate(bps) {
  if (!Number.isFinite(bps)) return '–';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1e3)} kbit/s`;
}

export function fmtWhen(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

// A status line for the user: kind 'error' | 'ok' | 'info'.
export function say(target, text, kind = 'info') {
  const node = typeof target === 'string' ? $(target) : target;
  if (!node) return;
  node.textContent = text || '';
  node.dataset.kind = kind;
  node.hidden = !text;
}

// Copies text; falls back to a selected prompt where the clipboard API is
// refused (plain http on another host).
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    window.prompt('Copy this:', text);
    return false;
  }
}

// ---- live events -------------------------------------------------------

// Connects to clipgate's WebSocket events (host and port from
// GET /api/v1/info) and keeps the connection up: reconnects with a growing
// delay (0.5 s to 5 s). handlers:
//   onEvent(msg)       every event except "hello"
//   onOpen(gap)        after each (re)connection's hello; gap is true when
//                      events may have been missed (a reconnection, or the
//                      sequence jumped), so the page should reload its state
// The header's indicator (#events) shows the state. Returns { close() }.
export function connectEvents({ onEvent = () => {}, onOpen = () => {} } = {}) {
  const dot = $('#events');
  let ws = null;
  let closed = false;
  let delay = 500;
  let lastSeq = null;
  let everOpen = false;
  let info = null;

  const show = (state, text) => {
    if (!dot) return;
    dot.dataset.state = state;
    dot.textContent = text;
    dot.title = `Live events: ${text}`;
  };

  async function open() {
    if (closed) return;
    show('connecting', everOpen ? 'reconnecting…' : 'connecting…');
    try {
      if (!info) info = await api('/api/v1/info');
    } catch (e) {
      show('down', 'events unavailable');
      retry();
      return;
    }
    if (!info.events_port) {
      show('down', 'events off'); // started without an events port
      return;
    }
    const scheme = info.tls || location.protocol === 'https:' ? 'wss' : 'ws';
    const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
    const url = `${scheme}://${host}:${info.events_port}${info.events_path || '/events'}`;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      show('down', 'events unavailable');
      retry();
      return;
    }
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (msg.type === 'hello') {
        const gap = everOpen || (lastSeq !== null && msg.seq !== lastSeq);
        lastSeq = msg.seq;
        everOpen = true;
        delay = 500;
        show('up', 'events connected');
        onOpen(gap);
        return;
      }
      if (typeof msg.seq === 'number') {
        const jumped = lastSeq !== null && msg.seq > lastSeq + 1;
        lastSeq = msg.seq;
        if (jumped) onOpen(true);
      }
      onEvent(msg);
    };
    ws.onclose = () => {
      ws = null;
      if (closed) return;
      show('down', 'events disconnected');
      retry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  function retry() {
    if (closed) return;
    setTimeout(open, delay);
    delay = Math.min(delay * 2, 5000);
  }

  open();
  return {
    close() {
      closed = true;
      if (ws) ws.close();
    },
  };
}

// Loads hls.js (served by clipgate at /ui/vendor/hls.min.js) once; throws
// an ApiError carrying the server's explanation when it is missing.
let hlsPromise = null;
export function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsPromise) {
    hlsPromise = new Promise((resolve, reject) => {
      const s = el('script', { src: '/ui/vendor/hls.min.js' });
      s.onload = () => resolve(window.Hls);
      s.onerror = async () => {
        hlsPromise = null;
        try {
          await check(await fetch('/ui/vendor/hls.min.js'));
          reject(new Error('hls.js did not load.'));
        } catch (e) {
          reject(e);
        }
      };
      document.head.append(s);
    });
  }
  return hlsPromise;
}
