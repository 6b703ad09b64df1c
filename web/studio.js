// Clip studio: scrub a live stream's last minutes (?stream=<name>, the
// preview playlist /live/<name>/index.m3u8?duration=5m) or a whole
// broadcast (?broadcast=<id>, its recording playlist) over a timeline in
// broadcast seconds, pick in and out, preview the range, cut a clip.
//
// Clock: everything on the timeline, the inputs and the clip request is in
// seconds since the broadcast started (the clock of Preview-Start-Seconds
// and of GET /api/v1/recordings/<id>). The player's own clock maps onto it
// through the playlist: a fragment's media sequence number is the segment
// number, so offset = segment start - fragment start.
//
// The timeline comes from GET /api/v1/recordings/<id> once, then from the
// live events (segment, thumbnail, clip.created, stream.ended): no polling.
import {
  $, ApiError, api, check, connectEvents, copyText, el, fmtTime, loadHls, param, say,
} from './app.js';

const PREVIEW_WINDOW_S = 300; // ?duration=5m
const LAST_S = 30;

const video = $('#video');
const st = {
  stream: param('stream'),
  broadcast: param('broadcast'),
  live: false,        // the broadcast is still being recorded
  segs: new Map(),    // seq -> { seq, start, duration, keyframes, thumbnail }
  clips: new Map(),   // id -> clip JSON (as GET /api/v1/clips lists it)
  hls: null,
  offset: null,       // broadcast seconds = video.currentTime + offset
  previewStart: null, // Preview-Start-Seconds of the live preview playlist
  inT: null,
  outT: null,
  previewing: false,
  ready: false,       // timeline loaded; events before that are queued
  pending: [],
};
window.clipgate = st; // for the browser test and for curious people

// ---- timeline model -------------------------------------------------------

function sortedSegs() {
  return [...st.segs.values()].sort((a, b) => a.seq - b.seq);
}

// The span the timeline shows: the whole broadcast, or for a live stream
// the preview window (segments ending in its last PREVIEW_WINDOW_S).
function span() {
  let segs = sortedSegs();
  if (!segs.length) return null;
  const end = segs[segs.length - 1].start + segs[segs.length - 1].duration;
  if (st.stream) segs = segs.filter((s) => s.start + s.duration > end - PREVIEW_WINDOW_S);
  return { t0: segs[0].start, t1: end, segs };
}

function addSeg(s) {
  const old = st.segs.get(s.seq);
  st.segs.set(s.seq, {
    seq: s.seq,
    start: s.start,
    duration: s.duration,
    keyframes: s.keyframes || (old && old.keyframes) || [s.start],
    thumbnail: s.thumbnail || (old && old.thumbnail) || null,
  });
}

// Player time <-> broadcast time, from the fragments hls.js holds.
function updateOffset(details) {
  for (const f of details.fragments || []) {
    const seg = st.segs.get(Number(f.sn));
    if (seg) {
      st.offset = seg.start - f.start;
      return;
    }
  }
  if (st.offset === null && st.previewStart !== null && details.fragments && details.fragments.length) {
    st.offset = st.previewStart - details.fragments[0].start;
  }
}

function nowT() {
  return st.offset === null ? null : video.currentTime + st.offset;
}

function seekT(t) {
  if (st.offset === null) return;
  let x = t - st.offset;
  const r = video.seekable;
  if (r.length) x = Math.min(Math.max(x, r.start(0)), r.end(r.length - 1));
  video.currentTime = x;
}

// ---- rendering ------------------------------------------------------------

const pct = (t, sp) => `${(((t - sp.t0) / Math.max(sp.t1 - sp.t0, 0.001)) * 100).toFixed(4)}%`;

function renderTimeline() {
  const sp = span();
  const thumbs = [];
  const ticks = [];
  if (sp) {
    for (const s of sp.segs) {
      const style = `left:${pct(s.start, sp)};width:${pct(sp.t0 + s.duration, sp)}`;
      thumbs.push(s.thumbnail
        ? el('img', { src: s.thumbnail, alt: `segment ${s.seq}`, style, dataset: { seq: s.seq }, draggable: 'false' })
        : el('div', { class: 'thumb-missing', style, dataset: { seq: s.seq } }));
      ticks.push(el('span', { class: 'tick seg', style: `left:${pct(s.start, sp)}`, title: `segment ${s.seq} at ${fmtTime(s.start, 3)}` }));
      for (const k of s.keyframes) {
        if (Math.abs(k - s.start) > 0.001) ticks.push(el('span', { class: 'tick key', style: `left:${pct(k, sp)}` }));
      }
    }
    $('#t-start').textContent = fmtTime(sp.t0, 1);
    $('#t-end').textContent = fmtTime(sp.t1, 1);
  }
  $('#thumbs').replaceChildren(...thumbs);
  $('#ticks').replaceChildren(...ticks);
  renderMarks();
}

function renderMarks() {
  const sp = span();
  const sel = $('#selection');
  if (sp && st.inT !== null && st.outT !== null && st.outT > st.inT) {
    sel.hidden = false;
    sel.style.left = pct(Math.max(st.inT, sp.t0), sp);
    sel.style.width = pct(sp.t0 + Math.min(st.outT, sp.t1) - Math.max(st.inT, sp.t0), sp);
  } else {
    sel.hidden = true;
  }
  const t = nowT();
  const ph = $('#playhead');
  ph.hidden = !(sp && t !== null);
  if (sp && t !== null) ph.style.left = pct(Math.min(Math.max(t, sp.t0), sp.t1), sp);
  $('#t-now').textContent = t !== null ? fmtTime(t, 2) : '';
  const len = st.inT !== null && st.outT !== null ? st.outT - st.inT : NaN;
  $('#len').textContent = Number.isFinite(len) && len > 0 ? `${len.toFixed(3)} s` : '–';
  $('#create').disabled = !(len > 0);
  $('#preview').disabled = !(len > 0);
}

function setIn(t) {
  st.inT = t === null ? null : Math.round(t * 1000) / 1000;
  $('#in').value = st.inT === null ? '' : st.inT.toFixed(3);
  renderMarks();
}

function setOut(t) {
  st.outT = t === null ? null : Math.round(t * 1000) / 1000;
  $('#out').value = st.outT === null ? '' : st.outT.toFixed(3);
  renderMarks();
}

function clipItem(c) {
  const mp4 = new URL(c.urls.mp4, location.href).href;
  const m3u8 = new URL(c.urls.hls, location.href).href;
  const a = c.actual || {};
  return el('li', { class: 'clip', dataset: { clip: c.id } },
    el('div', {},
      el('strong', {}, c.title || `Clip at ${fmtTime(a.start, 1)}`),
      el('p', { class: 'meta' }, `${fmtTime(a.start, 3)} → ${fmtTime(a.start + a.duration, 3)} · ${Number(a.duration).toFixed(3)} s`)),
    el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'play', onclick: () => playClip(c) }, 'Play'),
      el('a', { class: 'button download', href: c.urls.mp4, download: `${c.id}.mp4` }, 'Download MP4'),
      el('button', { type: 'button', onclick: async () => { await copyText(mp4); say('#status', `Link copied: ${mp4}`, 'ok'); } }, 'Copy link'),
      el('button', { type: 'button', onclick: async () => { await copyText(m3u8); say('#status', `HLS URL copied for embedding: ${m3u8}`, 'ok'); } }, 'Embed (HLS)')));
}

function renderClips() {
  const list = [...st.clips.values()].sort((x, y) => String(y.created_at).localeCompare(String(x.created_at)));
  $('#clips').replaceChildren(...list.map(clipItem));
  $('#clips-empty').hidden = list.length > 0;
}

function playClip(c) {
  const p = $('#clip-player');
  p.hidden = false;
  p.src = c.urls.mp4;
  p.play().catch(() => {});
  p.scrollIntoView({ block: 'nearest' });
}

// ---- loading --------------------------------------------------------------

async function loadTimeline() {
  const r = await api(`/api/v1/recordings/${encodeURIComponent(st.broadcast)}`);
  st.live = r.state === 'live';
  for (const s of r.segments || []) addSeg(s);
  $('#subtitle').textContent = `${r.stream} · broadcast ${r.id} · ${st.live ? 'live' : 'ended'}`;
}

async function loadClips() {
  const r = await api(`/api/v1/clips?broadcast=${encodeURIComponent(st.broadcast)}`);
  st.clips.clear();
  for (const c of r.clips || []) st.clips.set(c.id, c);
  renderClips();
}

async function startPlayer(url) {
  const Hls = await loadHls().catch((e) => {
    if (!video.canPlayType('application/vnd.apple.mpegurl')) throw e;
    return null;
  });
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ liveSyncDurationCount: 2 });
    st.hls = hls;
    hls.on(Hls.Events.LEVEL_UPDATED, (_e, d) => { updateOffset(d.details); renderMarks(); });
    hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => { updateOffset(d.details); renderMarks(); });
    hls.on(Hls.Events.ERROR, (_e, d) => {
      if (d.fatal) say('#status', `Playback stopped: ${d.details}`, 'error');
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url; // Safari: the playlist starts at the preview start
    st.offset = st.previewStart !== null ? st.previewStart : 0;
  }
  video.play().catch(() => {});
}

async function init() {
  st.ready = false;
  st.segs.clear();
  st.offset = null;
  if (st.hls) st.hls.destroy();
  st.hls = null;
  const state = $('#state');
  try {
    let url;
    if (st.stream) {
      url = `/live/${encodeURIComponent(st.stream)}/index.m3u8?duration=5m`;
      const resp = await fetch(url, { cache: 'no-store' });
      if (resp.status === 404) {
        state.dataset.state = 'waiting';
        state.textContent = 'not live';
        say('#status', `"${st.stream}" is not live; the studio opens when it starts. Ended broadcasts are on the home page.`, 'info');
        st.waiting = true;
        st.ready = true;
        return;
      }
      await check(resp); // another error: its problem's detail
      st.previewStart = Number(resp.headers.get('Preview-Start-Seconds'));
      st.broadcast = resp.headers.get('Stream-Media-Id');
      document.title = `${st.stream} · Clip studio · clipgate`;
      $('#title').textContent = `Clip studio · ${st.stream}`;
    } else if (st.broadcast) {
      url = `/recordings/${encodeURIComponent(st.broadcast)}/index.m3u8`;
      $('#title').textContent = 'Clip studio';
    } else {
      say('#status', 'Open the studio from the home page: /ui/studio.html?stream=<name> or ?broadcast=<id>.', 'error');
      return;
    }
    st.waiting = false;
    await loadTimeline();
    await loadClips();
    st.ready = true;
    const queued = st.pending;
    st.pending = [];
    for (const ev of queued) apply(ev);
    renderTimeline();
    state.dataset.state = st.live ? 'live' : 'ended';
    state.textContent = st.live ? 'live' : 'recording';
    await startPlayer(url);
  } catch (e) {
    say('#status', e.message, 'error');
    st.ready = true;
  }
}

// ---- events ---------------------------------------------------------------

function apply(ev) {
  if (ev.type === 'stream.started' && st.stream && ev.stream === st.stream) {
    if (st.waiting || ev.broadcast !== st.broadcast) init();
    return;
  }
  if (!st.broadcast || ev.broadcast !== st.broadcast) return;
  switch (ev.type) {
    case 'segment':
      addSeg({ seq: ev.segment, start: ev.start, duration: ev.duration });
      renderTimeline();
      break;
    case 'thumbnail': {
      const s = st.segs.get(ev.segment);
      if (s) {
        s.thumbnail = ev.url;
        renderTimeline();
      }
      break;
    }
    case 'clip.created':
      if (!st.clips.has(ev.id)) {
        st.clips.set(ev.id, {
          // The clip's start is "start" (the envelope's "time" is the
          // wall clock of the event).
          id: ev.id, title: '', created_at: ev.time,
          actual: { start: Number(ev.start), duration: ev.duration },
          urls: { mp4: ev.mp4, hls: ev.m3u8 },
        });
        // The event names the clip; its exact range comes with the API's JSON.
        api(`/api/v1/clips/${encodeURIComponent(ev.id)}`)
          .then((c) => { st.clips.set(c.id, c); renderClips(); })
          .catch(() => {});
        renderClips();
      }
      break;
    case 'stream.ended':
      st.live = false;
      $('#state').dataset.state = 'ended';
      $('#state').textContent = 'ended';
      break;
    default:
  }
}

// ---- controls -------------------------------------------------------------

function timelineT(evt) {
  const sp = span();
  if (!sp) return null;
  const r = $('#timeline').getBoundingClientRect();
  const x = Math.min(Math.max(evt.clientX - r.left, 0), r.width);
  return sp.t0 + (x / r.width) * (sp.t1 - sp.t0);
}

function bind() {
  const tl = $('#timeline');
  let dragging = false;
  tl.addEventListener('pointerdown', (e) => {
    dragging = true;
    tl.setPointerCapture(e.pointerId);
    const t = timelineT(e);
    if (t !== null) seekT(t);
  });
  tl.addEventListener('pointermove', (e) => {
    if (!dragging) return;
    const t = timelineT(e);
    if (t !== null) seekT(t);
    renderMarks();
  });
  tl.addEventListener('pointerup', () => { dragging = false; });
  tl.addEventListener('keydown', (e) => {
    const t = nowT();
    if (t === null) return;
    if (e.key === 'ArrowLeft') seekT(t - (e.shiftKey ? 5 : 1));
    else if (e.key === 'ArrowRight') seekT(t + (e.shiftKey ? 5 : 1));
    else return;
    e.preventDefault();
  });
  document.addEventListener('keydown', (e) => {
    if (e.target.closest && e.target.closest('input, textarea, select')) return;
    if (e.key === 'i' || e.key === 'I') setIn(nowT());
    else if (e.key === 'o' || e.key === 'O') setOut(nowT());
  });
  $('#set-in').addEventListener('click', () => setIn(nowT()));
  $('#set-out').addEventListener('click', () => setOut(nowT()));
  $('#in').addEventListener('change', () => setIn($('#in').value === '' ? null : Number($('#in').value)));
  $('#out').addEventListener('change', () => setOut($('#out').value === '' ? null : Number($('#out').value)));
  $('#last30').addEventListener('click', () => {
    const sp = span();
    if (!sp) return;
    setOut(sp.t1);
    setIn(Math.max(sp.t0, sp.t1 - LAST_S));
  });
  $('#preview').addEventListener('click', () => {
    if (st.inT === null || st.outT === null) return;
    st.previewing = true;
    seekT(st.inT);
    video.play().catch(() => {});
  });
  video.addEventListener('timeupdate', () => {
    const t = nowT();
    if (st.previewing && t !== null && t >= st.outT) {
      video.pause();
      st.previewing = false;
    }
    renderMarks();
  });
  $('#create').addEventListener('click', createClip);
}

async function createClip() {
  if (!(st.outT > st.inT)) return;
  const btn = $('#create');
  btn.disabled = true;
  say('#status', 'Cutting…', 'info');
  try {
    const body = {
      broadcast: st.broadcast,
      time: st.inT,
      duration: Math.round((st.outT - st.inT) * 1000) / 1000,
    };
    const title = $('#clip-title').value.trim();
    if (title) body.title = title;
    const c = await api('/api/v1/clips', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    st.clips.set(c.id, c);
    renderClips();
    say('#status', `Clip created: ${c.actual.duration.toFixed(3)} s from ${fmtTime(c.actual.start, 3)}.`, 'ok');
  } catch (e) {
    say('#status', e instanceof ApiError ? e.message : `The clip could not be made: ${e.message}`, 'error');
  } finally {
    btn.disabled = false;
    renderMarks();
  }
}

bind();
renderMarks();
connectEvents({
  onEvent: (ev) => { if (st.ready) apply(ev); else st.pending.push(ev); },
  onOpen: (gap) => {
    if (gap && st.ready && st.broadcast) {
      loadTimeline().then(renderTimeline).catch(() => {});
      loadClips().catch(() => {});
    }
  },
});
init();
