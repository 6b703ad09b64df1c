// Publish: camera and microphone to clipgate over WHIP (RFC 9725).
// One sendonly peer connection; the offer is POSTed once ICE gathering is
// complete (no trickle), the Location of the 201 is the session, and
// DELETE on it ends the broadcast. Stats come from getStats once a second.
import { $, check, connectEvents, el, fmtBitrate, say } from './app.js';

let pc = null;
let media = null;
let location_ = null; // the WHIP session URL
let auth = {}; // the Authorization header the session was made with
let statsTimer = null;
let last = null; // previous outbound-rtp video sample, for the bitrate

function setState(state, text) {
  const s = $('#state');
  s.dataset.state = state;
  s.textContent = text;
  $('#s-conn').textContent = text;
}

// H.264 first (clipgate packages H.264 without re-encoding), constrained
// baseline packetization-mode=1 ahead of the other profiles, then RTX.
function preferH264(transceiver) {
  if (!RTCRtpSender.getCapabilities || !transceiver.setCodecPreferences) return;
  const caps = RTCRtpSender.getCapabilities('video').codecs;
  const h264 = caps.filter((c) => c.mimeType === 'video/H264');
  if (!h264.length) throw new Error('This browser cannot send H.264, which clipgate needs.');
  const rank = (c) => (/packetization-mode=1/.test(c.sdpFmtpLine || '') ? 0 : 2)
    + (/profile-level-id=42e0/.test(c.sdpFmtpLine || '') ? 0 : 1);
  h264.sort((a, b) => rank(a) - rank(b));
  transceiver.setCodecPreferences([...h264, ...caps.filter((c) => c.mimeType === 'video/rtx')]);
}

function gathered(conn, ms) {
  if (conn.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (conn.iceGatheringState === 'complete') resolve(); };
    conn.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms); // send what we have
  });
}

async function start(ev) {
  ev.preventDefault();
  const name = $('#name').value.trim();
  const token = $('#token').value.trim();
  const [w, h] = $('#size').value.split('x').map(Number);
  say('#status', '');
  $('#start').disabled = true;
  try {
    setState('connecting', 'camera…');
    media = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: w }, height: { ideal: h }, frameRate: { ideal: 30 } },
      audio: true,
    });
    $('#preview').srcObject = media;
    pc = new RTCPeerConnection();
    for (const track of media.getTracks()) {
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
      if (track.kind === 'video') {
        preferH264(t);
        // Under a tight network the encoder drops frames rather than the
        // picture size: a new size is a new period in the recording, and
        // a clip cannot span two.
        const p = t.sender.getParameters();
        p.degradationPreference = 'maintain-resolution';
        await t.sender.setParameters(p).catch(() => {});
      }
    }
    pc.addEventListener('connectionstatechange', () => {
      const s = pc ? pc.connectionState : 'closed';
      setState(s === 'connected' ? 'live' : s, s === 'connected' ? 'live' : s);
      if (s === 'failed') say('#status', 'The connection to clipgate failed (no media path: check that UDP to its media port is open).', 'error');
    });
    setState('connecting', 'connecting…');
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2000);
    const headers = { 'Content-Type': 'application/sdp' };
    auth = token ? { Authorization: `Bearer ${token}` } : {};
    Object.assign(headers, auth);
    const url = `/whip/${encodeURIComponent(name)}`;
    const resp = await check(await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp }));
    location_ = new URL(resp.headers.get('Location'), new URL(url, document.baseURI)).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    $('#stop').disabled = false;
    const q = encodeURIComponent(name);
    $('#links').replaceChildren(
      el('a', { class: 'button', href: `/ui/watch.html?stream=${q}`, target: '_blank' }, 'Watch'),
      el('a', { class: 'button', href: `/ui/studio.html?stream=${q}`, target: '_blank' }, 'Clip studio'));
    $('#links').hidden = false;
    statsTimer = setInterval(stats, 1000);
  } catch (e) {
    say('#status', e.message, 'error');
    await stop(false);
  }
}

async function stats() {
  if (!pc) return;
  const report = await pc.getStats();
  const codecs = {};
  let out = null;
  let remote = null;
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'codec') codecs[s.id] = s;
    if (s.type === 'outbound-rtp' && s.kind === 'video') out = s;
    if (s.type === 'remote-inbound-rtp' && s.kind === 'video') remote = s;
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!out) return;
  const c = codecs[out.codecId];
  $('#s-codec').textContent = c ? `${c.mimeType.replace('video/', '')} ${c.sdpFmtpLine ? `(${(/profile-level-id=(\w+)/.exec(c.sdpFmtpLine) || [])[1] || ''})` : ''}` : '–';
  $('#s-video').textContent = out.frameWidth ? `${out.frameWidth}×${out.frameHeight}` : '–';
  $('#s-fps').textContent = out.framesPerSecond ? `${Math.round(out.framesPerSecond)} fps` : '–';
  if (last) {
    const bps = ((out.bytesSent - last.bytesSent) * 8) / ((out.timestamp - last.timestamp) / 1000);
    $('#s-bitrate').textContent = fmtBitrate(bps);
  }
  last = out;
  $('#s-lost').textContent = remote ? String(remote.packetsLost) : '0';
  const rtt = remote && remote.roundTripTime !== undefined ? remote.roundTripTime
    : pair && pair.currentRoundTripTime;
  $('#s-rtt').textContent = Number.isFinite(rtt) ? `${Math.round(rtt * 1000)} ms` : '–';
}

// Ends the session: DELETE the WHIP resource (keepalive so it still goes
// out when the page is closing), then release the camera.
async function stop(userAsked = true) {
  clearInterval(statsTimer);
  statsTimer = null;
  last = null;
  const loc = location_;
  location_ = null;
  if (loc) {
    try {
      await check(await fetch(loc, { method: 'DELETE', headers: auth, keepalive: true }));
    } catch (e) {
      if (userAsked) say('#status', e.message, 'error');
    }
  }
  if (pc) pc.close();
  pc = null;
  if (media) media.getTracks().forEach((t) => t.stop());
  media = null;
  $('#preview').srcObject = null;
  $('#start').disabled = false;
  $('#stop').disabled = true;
  setState('idle', 'not publishing');
}

$('#form').addEventListener('submit', start);
$('#stop').addEventListener('click', () => stop(true));
window.addEventListener('pagehide', () => {
  if (location_) fetch(location_, { method: 'DELETE', headers: auth, keepalive: true });
});
const saved = new URLSearchParams(location.search).get('stream');
if (saved) $('#name').value = saved;
// The indicator in the header; this page needs no events otherwise.
connectEvents();
