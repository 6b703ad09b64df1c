#!/usr/bin/env node
// Chromium WHIP publisher (RFC 9725): fake camera + microphone, sendonly.
//
// Usage: node chromium_offer.mjs [--offer-only | --sdpfrag | --answer-cmd CMD]
//                                [--token T] [--duration S] [--no-prefer-h264]
//                                WHIP_URL
//
// With --offer-only it prints the SDP offer after ICE gathering completed
// (the non-trickle shape WHIP clients POST) and exits; this is how
// tests/fixtures/sdp/chromium_offer.sdp was captured. With --sdpfrag it
// prints instead the trickle-ice-sdpfrag (RFC 8840) a trickling client would
// PATCH, built from the onicecandidate events of that run. With
// --answer-cmd it pipes the offer into CMD instead of POSTing it, applies
// CMD's output as the answer, prints what Chromium negotiated as JSON and
// exits 0 if Chromium took the answer (tests/e2e/peers/check_answers.sh).
// Otherwise the
// offer is POSTed from Node (no CORS involved), the answer applied in the
// page, media flows for --duration seconds from the moment the peer
// connection is connected, the tracks are taken off the senders, and the
// session is DELETEd (which must answer 200). It then prints one JSON line:
//
//   {"peer": "chromium", "video_frames_sent": N, "audio_frames_sent": M,
//    "video_frames_encoded": E, "video_packets_sent": P,
//    "audio_packets_sent": Q, "width": W, "height": H, "codec": "video/H264",
//    "location": URL, "delete_status": 200}
//
// from getStats: framesSent of the video outbound-rtp, and packetsSent of
// the audio one (one 20 ms Opus frame per packet). When publishing, H.264
// with packetization-mode=1 is put first with setCodecPreferences (what a
// WHIP page for an H.264 gateway does); --no-prefer-h264 keeps Chromium's
// default order (VP8 first), as in the captured offer.
//
// Chromium is Debian's, launched as chromium.mjs says.
import { execSync } from 'node:child_process';

import { launch, openPage, pageConnected } from './chromium.mjs';

function parseArgs(argv) {
  const a = {
    offerOnly: false, sdpfrag: false, answerCmd: null, token: null, duration: 10, url: null,
    preferH264: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--offer-only') a.offerOnly = true;
    else if (v === '--sdpfrag') a.sdpfrag = true;
    else if (v === '--answer-cmd') a.answerCmd = argv[++i];
    else if (v === '--token') a.token = argv[++i];
    else if (v === '--duration') a.duration = Number(argv[++i]);
    else if (v === '--no-prefer-h264') a.preferH264 = false;
    else a.url = v;
  }
  if (!a.url) {
    console.error('usage: chromium_offer.mjs [--offer-only | --sdpfrag | --answer-cmd CMD] [--token T] [--duration S] [--no-prefer-h264] WHIP_URL');
    process.exit(2);
  }
  return a;
}

// Runs in the page: builds the sendonly peer connection and waits for ICE
// gathering so the offer carries every candidate. With preferH264 the video
// transceiver offers H.264 packetization-mode=1 (constrained baseline
// first) and its RTX only.
async function pageOffer(preferH264) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const pc = new RTCPeerConnection();
  window.cgPc = pc;
  const cands = [];
  pc.onicecandidate = (e) => { if (e.candidate) cands.push([e.candidate.sdpMid, e.candidate.candidate]); };
  for (const track of stream.getTracks()) {
    const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    if (preferH264 && track.kind === 'video') {
      const caps = RTCRtpSender.getCapabilities('video').codecs;
      const h264 = caps.filter((c) => c.mimeType === 'video/H264'
        && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
      const rank = (c) => (/profile-level-id=42e0/.test(c.sdpFmtpLine) ? 0 : 1);
      h264.sort((x, y) => rank(x) - rank(y));
      if (!h264.length) throw new Error('this Chromium cannot send H.264 (packetization-mode=1)');
      t.setCodecPreferences([...h264, ...caps.filter((c) => c.mimeType === 'video/rtx')]);
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) => {
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    });
  }
  return { sdp: pc.localDescription.sdp, cands };
}

// RFC 8840 fragment as RFC 9725 section 4.3.1 shows it: credentials, then
// one m= section per mid with its candidates.
function buildSdpfrag(offer, cands) {
  const ufrag = /a=ice-ufrag:(\S+)/.exec(offer)[1];
  const pwd = /a=ice-pwd:(\S+)/.exec(offer)[1];
  const lines = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`];
  const mids = [...new Set(cands.map((c) => c[0]))];
  for (const mid of mids) {
    lines.push('m=audio 9 RTP/AVP 0', `a=mid:${mid}`);
    for (const c of cands.filter((x) => x[0] === mid)) lines.push(`a=${c[1]}`);
    lines.push('a=end-of-candidates');
  }
  return lines.join('\r\n') + '\r\n';
}

// Runs in the page: takes the tracks off the senders so the counters stop,
// waits for the last packets to leave, and reads the outbound-rtp stats.
async function pageStopAndCount(settleMs) {
  const pc = window.cgPc;
  for (const s of pc.getSenders()) await s.replaceTrack(null);
  await new Promise((r) => setTimeout(r, settleMs));
  const report = await pc.getStats();
  const out = {};
  const codecs = {};
  report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  report.forEach((s) => {
    if (s.type !== 'outbound-rtp') return;
    if (s.kind === 'video') {
      out.video_frames_sent = s.framesSent;
      out.video_frames_encoded = s.framesEncoded;
      out.video_packets_sent = s.packetsSent;
      out.width = s.frameWidth;
      out.height = s.frameHeight;
      out.codec = codecs[s.codecId];
    } else if (s.kind === 'audio') {
      out.audio_frames_sent = s.packetsSent;
      out.audio_packets_sent = s.packetsSent;
      out.audio_codec = codecs[s.codecId];
    }
  });
  return out;
}

// Runs in the page after setRemoteDescription: what the sender will use.
function pageNegotiated() {
  const pc = window.cgPc;
  return {
    peer: 'chromium',
    signalingState: pc.signalingState,
    tracks: pc.getTransceivers().map((t) => ({
      mid: t.mid,
      kind: t.sender.track && t.sender.track.kind,
      direction: t.currentDirection,
      codecs: t.sender.getParameters().codecs.map((c) => ({ mimeType: c.mimeType, payloadType: c.payloadType })),
    })),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const browser = await launch();
  try {
    const page = await openPage(browser, 'whip');
    const publishing = !args.offerOnly && !args.sdpfrag && !args.answerCmd;
    const { sdp, cands } = await page.evaluate(pageOffer, publishing && args.preferH264);
    if (args.offerOnly) {
      process.stdout.write(sdp);
      return;
    }
    if (args.sdpfrag) {
      process.stdout.write(buildSdpfrag(sdp, cands));
      return;
    }
    if (args.answerCmd) {
      const answer = execSync(args.answerCmd, { input: sdp }).toString();
      await page.evaluate((a) => window.cgPc.setRemoteDescription({ type: 'answer', sdp: a }), answer);
      const got = await page.evaluate(pageNegotiated);
      console.log(JSON.stringify(got));
      if (got.signalingState !== 'stable') throw new Error('Chromium did not reach the stable signaling state');
      return;
    }
    const headers = { 'Content-Type': 'application/sdp' };
    if (args.token) headers.Authorization = `Bearer ${args.token}`;
    const resp = await fetch(args.url, { method: 'POST', headers, body: sdp });
    if (resp.status !== 201) {
      throw new Error(`WHIP POST answered ${resp.status}, expected 201: ${await resp.text()}`);
    }
    const session = new URL(resp.headers.get('location'), args.url).toString();
    const answer = await resp.text();
    await page.evaluate((a) => window.cgPc.setRemoteDescription({ type: 'answer', sdp: a }), answer);
    await page.evaluate(pageConnected, 15000);
    await new Promise((r) => setTimeout(r, args.duration * 1000));
    const sent = await page.evaluate(pageStopAndCount, 700);
    const del = { method: 'DELETE', headers: args.token ? { Authorization: `Bearer ${args.token}` } : {} };
    const dresp = await fetch(session, del);
    console.log(JSON.stringify({
      peer: 'chromium', ...sent, location: session, delete_status: dresp.status,
    }));
    if (dresp.status !== 200) {
      throw new Error(`WHIP DELETE answered ${dresp.status}, expected 200: ${await dresp.text()}`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
