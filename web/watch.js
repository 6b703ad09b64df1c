// Watch: WebRTC playback over WHEP (sub-second) or HLS (hls.js, or the
// browser's own HLS where it has one), with the measured latency and the
// WebRTC viewer count from the live events. When the stream is not live
// the page waits for its stream.started event instead of retrying.
import { $, ApiError, api, check, connectEvents, loadHls, param, say } from './app.js';

const stream = param('stream') || '';
const video = $('#video');
const player = { mode: null, pc: null, hls: null, location: null, waiting: false, timer: null };
window.clipgate = player; // for the browser test and for curious people

function setState(state, text) {
  const s = $('#state');
  s.dataset.state = state;
  s.textContent = text;
}

function gathered(conn, ms) {
  if (conn.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    conn.addEventListener('icegatheringstatechange', () => {
      if (conn.iceGatheringState === 'complete') resolve();
    });
    setTimeout(resolve, ms);
  });
}

function notLive() {
  player.waiting = true;
  setState('waiting', 'not live');
  say('#status', `Nobody is publishing "${stream}" right now; playback starts when the stream goes live.`, 'info');
}

// ---- WHEP -----------------------------------------------------------------

async function startWhep() {
  const pc = new RTCPeerConnection();
  player.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const ms = new MediaStream();
  pc.ontrack = (e) => {
    ms.addTrack(e.track);
    video.srcObject = ms;
    video.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (player.pc !== pc) return;
    const s = pc.connectionState;
    setState(s === 'connected' ? 'live' : s, s === 'connected' ? 'live · WebRTC' : s);
    if (s === 'failed') {
      say('#status', 'The WebRTC connection to clipgate failed: UDP to its media port must be reachable from here. HLS works over plain HTTP.', 'error');
    }
  };
  setState('connecting', 'connecting…');
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  const url = `/whep/${encodeURIComponent(stream)}`;
  const resp = await fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
  });
  if (player.pc !== pc) return; // switched away meanwhile
  if (resp.status === 409) {
    pc.close();
    player.pc = null;
    notLive();
    return;
  }
  await check(resp);
  player.location = new URL(resp.headers.get('Location'), new URL(url, document.baseURI)).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
  $('#s-player').textContent = 'WebRTC (WHEP)';
}

// Ends the WHEP session: DELETE, then close the peer connection (closing
// first ends the session on clipgate's side and the DELETE finds nothing).
// When the page is going away there is no waiting: keepalive sends it.
async function stopWhep(leaving = false) {
  player.lastInbound = null;
  const loc = player.location;
  const pc = player.pc;
  player.location = null;
  player.pc = null;
  video.srcObject = null;
  if (loc) {
    const sent = fetch(loc, { method: 'DELETE', keepalive: true }).catch(() => {});
    if (!leaving) await sent;
  }
  if (pc) pc.close();
}

// Latency of WebRTC playback, from clipgate to the decoded frame: half the
// round trip (the network one way), the time a frame waits in the jitter
// buffer from its first packet (jitterBufferDelay) and its decoding
// (totalDecodeTime), per frame over the last second. The publisher's
// capture, encoding and uplink are not in it.
async function whepStats() {
  const pc = player.pc;
  if (!pc) return;
  const report = await pc.getStats();
  let inb = null;
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') inb = s;
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!inb) return;
  $('#s-frames').textContent = String(inb.framesDecoded || 0);
  $('#s-video').textContent = inb.frameWidth
    ? `${inb.frameWidth}×${inb.frameHeight} · ${Math.round(inb.framesPerSecond || 0)} fps` : '–';
  const prev = player.lastInbound || {};
  player.lastInbound = inb;
  const per = (total, count) => {
    const dc = (inb[count] || 0) - (prev[count] || 0);
    return dc > 0 ? ((inb[total] || 0) - (prev[total] || 0)) / dc : NaN;
  };
  const jb = per('jitterBufferDelay', 'jitterBufferEmittedCount');
  const dec = per('totalDecodeTime', 'framesDecoded');
  const rtt = pair && Number.isFinite(pair.currentRoundTripTime) ? pair.currentRoundTripTime : 0;
  if (Number.isFinite(jb)) {
    const d = Number.isFinite(dec) ? dec : 0;
    const ms = (x) => Math.round(x * 1000);
    $('#s-latency').textContent = `${ms(rtt / 2 + jb + d)} ms`;
    $('#s-latency-how').textContent = `½ round trip ${ms(rtt / 2)} ms + jitter buffer ${ms(jb)} ms + decode ${ms(d)} ms`;
  }
}

// ---- HLS ------------------------------------------------------------------

async function startHls() {
  const url = `/live/${encodeURIComponent(stream)}/index.m3u8`;
  setState('connecting', 'loading…');
  const Hls = await loadHls().catch((e) => {
    if (!video.canPlayType('application/vnd.apple.mpegurl')) throw e;
    return null;
  });
  if (player.mode !== 'hls') return;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ liveSyncDurationCount: 2 });
    player.hls = hls;
    hls.on(Hls.Events.ERROR, (_e, d) => {
      if (!d.fatal || player.hls !== hls) return;
      const code = d.response && d.response.code;
      hls.destroy();
      player.hls = null;
      if (code === 404) notLive();
      else say('#status', `HLS playback stopped: ${d.details}`, 'error');
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      setState('live', 'live · HLS');
      video.play().catch(() => {});
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    $('#s-player').textContent = `hls.js ${Hls.version}`;
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    // Safari and iOS play HLS themselves.
    video.src = url;
    video.addEventListener('playing', () => setState('live', 'live · HLS'), { once: true });
    video.play().catch(() => {});
    $('#s-player').textContent = 'the browser\'s own HLS';
  } else {
    throw new Error('This browser can play neither HLS nor Media Source Extensions.');
  }
}

function stopHls() {
  if (player.hls) player.hls.destroy();
  player.hls = null;
  video.removeAttribute('src');
  video.load();
}

// Latency of HLS playback: now minus the wall clock of the frame on screen
// (EXT-X-PROGRAM-DATE-TIME of the playhead; hls.js: playingDate).
function hlsStats() {
  let at = null;
  if (player.hls && player.hls.playingDate) at = player.hls.playingDate.getTime();
  else if (!player.hls && video.getStartDate && !Number.isNaN(video.getStartDate().getTime())) {
    at = video.getStartDate().getTime() + video.currentTime * 1000;
  }
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
  if (q) $('#s-frames').textContent = String(q.totalVideoFrames);
  if (video.videoWidth) $('#s-video').textContent = `${video.videoWidth}×${video.videoHeight}`;
  if (at !== null) {
    $('#s-latency').textContent = `${((Date.now() - at) / 1000).toFixed(1)} s`;
    $('#s-latency-how').textContent = 'now − program date-time of the playhead';
  }
}

// ---- modes ----------------------------------------------------------------

async function setMode(mode) {
  await stopWhep();
  stopHls();
  player.mode = mode;
  player.waiting = false;
  $('#mode-whep').setAttribute('aria-selected', String(mode === 'whep'));
  $('#mode-hls').setAttribute('aria-selected', String(mode === 'hls'));
  $('#s-latency').textContent = '–';
  $('#s-latency-how').textContent = '–';
  $('#s-frames').textContent = '–';
  say('#status', '');
  const u = new URL(location.href);
  u.searchParams.set('mode', mode);
  history.replaceState(null, '', u);
  try {
    if (mode === 'whep') await startWhep();
    else await startHls();
  } catch (e) {
    setState('error', 'stopped');
    say('#status', e.message, 'error');
  }
}

async function tick() {
  try {
    if (player.mode === 'whep') await whepStats();
    else hlsStats();
  } catch (_) { /* a closed peer connection mid-read */ }
}

async function viewersOnce() {
  try {
    const s = await api(`/api/v1/streams/${encodeURIComponent(stream)}`);
    $('#s-viewers').textContent = String(s.viewers || 0);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) say('#status', e.message, 'error');
    $('#s-viewers').textContent = '0';
  }
}

function onEvent(ev) {
  if (ev.stream !== stream) return;
  if (ev.type === 'viewers') $('#s-viewers').textContent = String(ev.viewers);
  else if (ev.type === 'stream.started' && player.waiting) setMode(player.mode);
  else if (ev.type === 'stream.ended') {
    $('#s-viewers').textContent = '0';
    if (player.mode === 'whep') {
      stopWhep();
      notLive();
    }
    say('#status', `"${stream}" stopped publishing; playback resumes when it is live again.`, 'info');
    player.waiting = true;
  }
}

if (!stream) {
  say('#status', 'Say which stream to watch: /ui/watch.html?stream=<name>. Live streams are on the home page.', 'error');
} else {
  document.title = `${stream} · Watch · clipgate`;
  $('#title').textContent = stream;
  $('#studio').href = `/ui/studio.html?stream=${encodeURIComponent(stream)}`;
  $('#hls-url').textContent = `${location.origin}/live/${encodeURIComponent(stream)}/index.m3u8`;
  $('#mode-whep').addEventListener('click', () => setMode('whep'));
  $('#mode-hls').addEventListener('click', () => setMode('hls'));
  $('#unmute').addEventListener('click', () => {
    video.muted = !video.muted;
    $('#unmute').textContent = video.muted ? 'Unmute' : 'Mute';
  });
  window.addEventListener('pagehide', () => stopWhep(true));
  connectEvents({ onEvent, onOpen: (gap) => { if (gap) viewersOnce(); } });
  viewersOnce();
  player.timer = setInterval(tick, 1000);
  setMode(param('mode') === 'hls' ? 'hls' : 'whep');
}
