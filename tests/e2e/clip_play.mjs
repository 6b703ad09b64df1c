#!/usr/bin/env node
// Clip playback proof: Debian's Chromium, driven by playwright-core, plays a
// clip MP4 in a plain <video> element and a clip playlist with hls.js, both
// from a page served on another origin (so CORS applies, and the Clip-*
// headers are read the way a web app would).
//
//   node clip_play.mjs [--mp4 URL] [--m3u8 URL] [--seconds S] [--hlsjs PATH]
//
// Each given URL is played until S seconds of media have played or the
// clip ended (up to 30 s), sampling the element twice a second. Prints one
// JSON line:
//
//   {"chromium": "...", "hlsjs": "...",
//    "mp4":  {"headers": {...}, "samples": [...], "ended": bool,
//             "duration": s, "error": null | "...", "canPlay": "..."},
//    "m3u8": {"headers": {...}, "samples": [...], "ended": bool,
//             "duration": s, "errors": [...], "fatal": bool}}
//
// samples: {t, currentTime, readyState, totalVideoFrames, audioBytes,
// videoBytes}. Exits 0 when it could run the page at all (the caller judges
// the figures), 1 on a harness failure.
import { launch } from './peers/chromium.mjs';
import { HLSJS, startPageServer } from './peers/player_page.mjs';

const CLIP_HEADERS = ['Clip-Requested-Start', 'Clip-Requested-Duration', 'Clip-Start',
  'Clip-Duration', 'Clip-Keyframe', 'Clip-Mode', 'Content-Type', 'ETag'];

function parseArgs(argv) {
  const args = {
    seconds: 3,
    hlsjs: HLSJS,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--mp4') args.mp4 = v;
    else if (k === '--m3u8') args.m3u8 = v;
    else if (k === '--seconds') args.seconds = Number(v);
    else if (k === '--hlsjs') args.hlsjs = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if ((!args.mp4 && !args.m3u8) || !(args.seconds > 0)) {
    throw new Error('usage: clip_play.mjs [--mp4 URL] [--m3u8 URL] [--seconds S]');
  }
  return args;
}

// In the page: reads the exposed headers with a cross-origin fetch.
async function readHeaders([url, names]) {
  try {
    const r = await fetch(url, { cache: 'no-store' });
    const out = { status: r.status };
    for (const n of names) out[n] = r.headers.get(n);
    await r.arrayBuffer();
    return out;
  } catch (e) {
    return { error: String(e) };
  }
}

// In the page: a fresh <video> on the MP4 (plain src) or the playlist (hls.js).
function startPlayer([url, useHls]) {
  const old = document.getElementById('v');
  const video = document.createElement('video');
  video.id = 'v';
  video.muted = true;
  video.playsInline = true;
  old.replaceWith(video);
  const st = { errors: [], fatal: false, error: null, ended: false };
  window.__clip = st;
  video.addEventListener('ended', () => { st.ended = true; });
  video.addEventListener('error', () => {
    st.error = video.error ? `${video.error.code}: ${video.error.message}` : 'error';
  });
  st.canPlay = video.canPlayType('video/mp4; codecs="avc1.42e01f, mp4a.40.2"');
  if (useHls) {
    st.version = Hls.version;
    const hls = new Hls({ debug: false, enableWorker: true });
    hls.on(Hls.Events.ERROR, (_e, d) => {
      st.errors.push({ type: d.type, details: d.details, fatal: !!d.fatal,
        reason: d.reason || (d.response && `HTTP ${d.response.code}`) || '' });
      if (d.fatal) st.fatal = true;
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url;
  }
  video.play().catch((e) => st.errors.push({ type: 'play', details: String(e), fatal: false }));
}

function sample() {
  const v = document.getElementById('v');
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
  return {
    currentTime: v.currentTime,
    readyState: v.readyState,
    totalVideoFrames: q.totalVideoFrames || 0,
    audioBytes: v.webkitAudioDecodedByteCount || 0,
    videoBytes: v.webkitVideoDecodedByteCount || 0,
    duration: Number.isFinite(v.duration) ? v.duration : null,
  };
}

async function play(page, url, useHls, seconds) {
  const headers = await page.evaluate(readHeaders, [url, CLIP_HEADERS]);
  await page.evaluate(startPlayer, [url, useHls]);
  const t0 = Date.now();
  const samples = [];
  for (;;) {
    const s = await page.evaluate(sample);
    s.t = Date.now() - t0;
    samples.push(s);
    const st = await page.evaluate(() => window.__clip);
    if (st.fatal || st.error || st.ended) break;
    if (s.currentTime >= seconds || Date.now() - t0 >= 30000) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const st = await page.evaluate(() => window.__clip);
  const last = samples[samples.length - 1];
  return { headers, samples, ended: st.ended, duration: last.duration, error: st.error,
    errors: st.errors, fatal: st.fatal, canPlay: st.canPlay, version: st.version };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { server, origin } = await startPageServer(args.hlsjs, 'clip');
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const out = { chromium: browser.version(), pageOrigin: origin };
    if (args.mp4) out.mp4 = await play(page, args.mp4, false, args.seconds);
    if (args.m3u8) {
      out.m3u8 = await play(page, args.m3u8, true, args.seconds);
      out.hlsjs = out.m3u8.version;
    }
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
    server.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`clip_play: FAILED: ${e.stack || e}`);
  process.exit(1);
});
