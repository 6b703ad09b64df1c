#!/usr/bin/env node
// Chromium WHIP publisher (RFC 9725): fake camera + microphone, sendonly.
//
// Usage: node chromium_offer.mjs [--offer-only | --sdpfrag | --answer-cmd CMD]
//                                [--token T] [--duration S] WHIP_URL
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
// page, media flows for --duration seconds and the session is DELETEd.
//
// Chromium is Debian's; --allow-loopback-in-peer-connection is what makes it
// gather candidates on 127.0.0.1 inside a loopback-only network namespace.
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { chromium } = require(path.join(here, '..', '..', '..', 'node_modules', 'playwright-core'));

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
];

function parseArgs(argv) {
  const a = { offerOnly: false, sdpfrag: false, answerCmd: null, token: null, duration: 10, url: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--offer-only') a.offerOnly = true;
    else if (v === '--sdpfrag') a.sdpfrag = true;
    else if (v === '--answer-cmd') a.answerCmd = argv[++i];
    else if (v === '--token') a.token = argv[++i];
    else if (v === '--duration') a.duration = Number(argv[++i]);
    else a.url = v;
  }
  if (!a.url) {
    console.error('usage: chromium_offer.mjs [--offer-only | --sdpfrag | --answer-cmd CMD] [--token T] [--duration S] WHIP_URL');
    process.exit(2);
  }
  return a;
}

// Runs in the page: builds the sendonly peer connection and waits for ICE
// gathering so the offer carries every candidate.
async function pageOffer() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const pc = new RTCPeerConnection();
  window.cgPc = pc;
  const cands = [];
  pc.onicecandidate = (e) => { if (e.candidate) cands.push([e.candidate.sdpMid, e.candidate.candidate]); };
  for (const track of stream.getTracks())
    pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
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
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
  try {
    const page = await browser.newPage();
    // getUserMedia needs a secure context; http://localhost is one. The page
    // is served by Playwright's router, so no server has to listen.
    await page.route('http://localhost/**', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>whip</title>' }));
    await page.goto('http://localhost/');
    const { sdp, cands } = await page.evaluate(pageOffer);
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
    if (resp.status !== 201) throw new Error(`WHIP POST answered ${resp.status}, expected 201`);
    const session = new URL(resp.headers.get('location'), args.url).toString();
    const answer = await resp.text();
    await page.evaluate((a) => window.cgPc.setRemoteDescription({ type: 'answer', sdp: a }), answer);
    await new Promise((r) => setTimeout(r, args.duration * 1000));
    const del = { method: 'DELETE', headers: args.token ? { Authorization: `Bearer ${args.token}` } : {} };
    await fetch(session, del);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
