// Home: who is live and the recent broadcasts. The state is read once from
// the API when the events connection opens (and again only after events
// may have been missed); from then on the live events keep it current, so
// the page never polls.
import { $, api, connectEvents, el, fmtBitrate, fmtTime, fmtWhen, say } from './app.js';

const RECENT_MAX = 20;

const streams = new Map();    // name -> { name, broadcast, since, video, audio, viewers, desc }
const broadcasts = new Map(); // id -> { id, stream, state, start, duration }
let ready = false;
let loaded = false;
let pending = [];

function fromApi(streamList, recList) {
  streams.clear();
  broadcasts.clear();
  for (const s of streamList.streams || []) {
    streams.set(s.name, {
      name: s.name,
      broadcast: s.broadcast ? s.broadcast.id : null,
      since: s.started_at_ms ? new Date(s.started_at_ms).toISOString() : null,
      video: !!s.video,
      audio: !!s.audio,
      viewers: s.viewers || 0,
      desc: s,
    });
  }
  for (const r of recList.recordings || []) broadcasts.set(r.id, { ...r });
}

function apply(ev) {
  switch (ev.type) {
    case 'stream.started':
      streams.set(ev.stream, {
        name: ev.stream, broadcast: ev.broadcast, since: ev.time, video: ev.video, audio: ev.audio,
        viewers: 0, desc: null,
      });
      if (!broadcasts.has(ev.broadcast)) {
        broadcasts.set(ev.broadcast, {
          id: ev.broadcast, stream: ev.stream, state: 'live', start: ev.time, duration: 0,
        });
      } else {
        broadcasts.get(ev.broadcast).state = 'live'; // a reconnect within the grace period
      }
      break;
    case 'stream.ended': {
      streams.delete(ev.stream);
      const b = broadcasts.get(ev.broadcast);
      if (b) {
        b.state = 'ended';
        if (Number.isFinite(ev.duration)) b.duration = ev.duration;
      }
      break;
    }
    case 'segment': {
      const b = broadcasts.get(ev.broadcast);
      if (b) b.duration = Math.max(b.duration || 0, ev.start + ev.duration);
      break;
    }
    case 'viewers': {
      const s = streams.get(ev.stream);
      if (s) s.viewers = ev.viewers;
      break;
    }
    default:
      return;
  }
  render();
}

function streamCard(s) {
  const q = encodeURIComponent(s.name);
  const v = s.desc && s.desc.video;
  const facts = [];
  if (v && v.width) facts.push(`${v.width}×${v.height}`);
  if (v && v.frame_rate) facts.push(`${Math.round(v.frame_rate)} fps`);
  if (v && v.bitrate_kbps) facts.push(fmtBitrate(v.bitrate_kbps * 1000));
  if (!v && s.video !== undefined) facts.push([s.video && 'video', s.audio && 'audio'].filter(Boolean).join(' + '));
  return el('li', { class: 'card', dataset: { stream: s.name } },
    el('div', { class: 'card-head' },
      el('span', { class: 'badge live' }, 'LIVE'),
      el('strong', { class: 'name' }, s.name)),
    el('p', { class: 'meta' },
      s.since ? `since ${fmtWhen(s.since)}` : '',
      facts.length ? ` · ${facts.join(' · ')}` : '',
      ' · ', el('span', { class: 'viewers' }, `${s.viewers} watching`)),
    el('div', { class: 'actions' },
      el('a', { class: 'button primary', href: `/ui/watch.html?stream=${q}` }, 'Watch'),
      el('a', { class: 'button', href: `/ui/watch.html?stream=${q}&mode=hls` }, 'Watch (HLS)'),
      el('a', { class: 'button', href: `/ui/studio.html?stream=${q}` }, 'Clip studio')));
}

function broadcastRow(b) {
  const live = b.state === 'live';
  const links = [el('a', { href: `/ui/studio.html?broadcast=${encodeURIComponent(b.id)}` }, 'Clip studio')];
  if (live) links.unshift(el('a', { href: `/ui/watch.html?stream=${encodeURIComponent(b.stream)}` }, 'Watch'), ' · ');
  return el('tr', { dataset: { broadcast: b.id } },
    el('td', {}, b.stream),
    el('td', {}, fmtWhen(b.start)),
    el('td', { class: 'num' }, fmtTime(b.duration || 0, 0)),
    el('td', {}, el('span', { class: `badge ${live ? 'live' : 'ended'}` }, live ? 'live' : 'ended')),
    el('td', { class: 'links' }, links));
}

function render() {
  const live = [...streams.values()].sort((a, b) => a.name.localeCompare(b.name));
  $('#live').replaceChildren(...live.map(streamCard));
  $('#live-empty').hidden = live.length > 0;
  const recent = [...broadcasts.values()]
    .sort((a, b) => String(b.start || '').localeCompare(String(a.start || '')))
    .slice(0, RECENT_MAX);
  $('#recent').replaceChildren(...recent.map(broadcastRow));
  $('#recent-empty').hidden = recent.length > 0;
}

async function load() {
  ready = false;
  loaded = true;
  try {
    const [s, r] = await Promise.all([api('/api/v1/streams'), api('/api/v1/recordings')]);
    fromApi(s, r);
    say('#status', '');
  } catch (e) {
    say('#status', e.message, 'error');
  }
  ready = true;
  const queued = pending;
  pending = [];
  for (const ev of queued) apply(ev);
  render();
}

$('#whip-url').textContent = `${location.origin}/whip/<name>`;
connectEvents({
  // The first hello loads the state; later ones only when events were missed.
  onOpen: (gap) => { if (gap || !ready) load(); },
  onEvent: (ev) => { if (ready) apply(ev); else pending.push(ev); },
});
// Without events (a proxy that drops WebSockets) the page still shows the
// state once; the indicator says it will not update.
setTimeout(() => { if (!loaded) load(); }, 2000);
render();
