#!/usr/bin/env node
// Chromium WHEP viewer (draft-ietf-wish-whep): recvonly video + audio.
//
// Usage: node chromium_whep.mjs [--token T] [--duration S] WHEP_URL
//
// Builds a peer connection with a recvonly video and a recvonly audio
// transceiver (Chromium's own codec list: VP8 first, H.264 in both
// packetization modes, rtx, red, ulpfec; Opus), waits for ICE gathering,
// POSTs the offer from Node (no CORS involved), applies the 201 answer and
// plays the received stream in a <video> element for --duration seconds
// from the moment the peer connection is connected. getStats is sampled
// every 250 ms. Then the session is DELETEd and one JSON line printed:
//
//   {"peer": "chromium", "post_status": 201, "location": URL,
//    "connected_at": EPOCH_MS, "ended_at": EPOCH_MS,
//    "first_frame_ms": T,   // connected -> first frame decoded (getStats)
//    "video": {framesReceived, framesDecoded, keyFramesDecoded, framesDropped,
//              freezeCount, totalFreezesDuration, pauseCount, packetsReceived,
//              packetsLost, nackCount, pliCount, firCount, frameWidth,
//              frameHeight, codec},
//    "audio": {packetsReceived, packetsLost, totalSamplesReceived,
//              concealedSamples, codec},
//    "samples": [{"t": ms since connected, "framesDecoded": n, "freezes": n,
//                 "audioSamples": n}], "delete_status": 200}
//
// connected_at and ended_at are wall clocks (Date.now()) of the moment
// the page saw the connection up and of the final stats, so the caller can count
// what the publisher sent in between. A POST not answered 201 is printed
// with its status and body and exits 1.
import { launch, openPage, pageConnected } from './chromium.mjs';

const SAMPLE_MS = 250;

function parseArgs(argv) {
  const a = { token: null, duration: 8, url: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--token') a.token = argv[++i];
    else if (v === '--duration') a.duration = Number(argv[++i]);
    else a.url = v;
  }
  if (!a.url || !(a.duration > 0)) {
    console.error('usage: chromium_whep.mjs [--token T] [--duration S] WHEP_URL');
    process.exit(2);
  }
  return a;
}

// Runs in the page: the recvonly peer connection and its complete offer.
async function pageOffer() {
  const pc = new RTCPeerConnection();
  window.cgPc = pc;
  window.cgConnectedAt = null;
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected' && window.cgConnectedAt === null)
      window.cgConnectedAt = Date.now();
  });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const media = new MediaStream();
  pc.ontrack = (e) => {
    media.addTrack(e.track);
    const v = document.getElementById('v');
    if (v.srcObject !== media) v.srcObject = media;
    v.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) => {
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    });
  }
  return pc.localDescription.sdp;
}

// Runs in the page: the inbound-rtp figures of both kinds.
async function pageStats() {
  const report = await window.cgPc.getStats();
  const codecs = {};
  report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  const out = { video: null, audio: null };
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') {
      out.video = {
        framesReceived: s.framesReceived, framesDecoded: s.framesDecoded,
        keyFramesDecoded: s.keyFramesDecoded, framesDropped: s.framesDropped,
        freezeCount: s.freezeCount, totalFreezesDuration: s.totalFreezesDuration,
        pauseCount: s.pauseCount, totalPausesDuration: s.totalPausesDuration,
        packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
        nackCount: s.nackCount, pliCount: s.pliCount, firCount: s.firCount,
        frameWidth: s.frameWidth, frameHeight: s.frameHeight, codec: codecs[s.codecId],
      };
    } else if (s.kind === 'audio') {
      out.audio = {
        packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
        totalSamplesReceived: s.totalSamplesReceived, concealedSamples: s.concealedSamples,
        codec: codecs[s.codecId],
      };
    }
  });
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const browser = await launch();
  try {
    const page = await openPage(browser, 'whep',
      '<video id="v" autoplay muted playsinline width="320" height="240"></video>');
    const sdp = await page.evaluate(pageOffer);
    const auth = args.token ? { Authorization: `Bearer ${args.token}` } : {};
    const resp = await fetch(args.url, {
      method: 'POST', headers: { 'Content-Type': 'application/sdp', ...auth }, body: sdp,
    });
    const answer = await resp.text();
    if (resp.status !== 201) {
      console.log(JSON.stringify({ peer: 'chromium', post_status: resp.status, body: answer.slice(0, 500) }));
      process.exit(1);
    }
    const session = new URL(resp.headers.get('location'), args.url).toString();
    await page.evaluate((a) => window.cgPc.setRemoteDescription({ type: 'answer', sdp: a }), answer);
    await page.evaluate(pageConnected, 15000);
    const connectedAt = await page.evaluate(() => window.cgConnectedAt);
    const samples = [];
    let firstFrameMs = null;
    let stats = null;
    for (;;) {
      stats = await page.evaluate(pageStats);
      const t = Date.now() - connectedAt;
      const decoded = stats.video ? stats.video.framesDecoded || 0 : 0;
      if (firstFrameMs === null && decoded > 0) firstFrameMs = t;
      samples.push({ t, framesDecoded: decoded,
        freezes: stats.video ? stats.video.freezeCount || 0 : 0,
        audioSamples: stats.audio ? stats.audio.totalSamplesReceived || 0 : 0 });
      if (t >= args.duration * 1000) break;
      await new Promise((r) => setTimeout(r, firstFrameMs === null ? 20 : SAMPLE_MS));
    }
    const endedAt = Date.now();
    const dresp = await fetch(session, { method: 'DELETE', headers: auth });
    console.log(JSON.stringify({
      peer: 'chromium', post_status: resp.status, location: session, answer,
      connected_at: connectedAt, ended_at: endedAt, first_frame_ms: firstFrameMs,
      video: stats.video, audio: stats.audio, samples, delete_status: dresp.status,
    }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
