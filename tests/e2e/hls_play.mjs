#!/usr/bin/env node
// HLS playback proof: Debian's Chromium, driven by playwright-core, plays a
// clipgate HLS playlist with hls.js from a page served on another origin,
// and optionally fetches a preview playlist from that page to read its
// CORS-exposed headers.
//
//   node hls_play.mjs --url PLAYLIST_URL [--seconds S] [--preview PREVIEW_URL]
//                     [--hlsjs PATH]
//
// The page comes from a small HTTP server this script runs on 127.0.0.1 on
// a port of its own, so every request to clipgate is cross-origin (CORS
// applies to the playlist, the init and media segments, and the preview's
// headers). hls.js is served to the page from node_modules.
//
// It plays for --seconds (after the first frame shows, or from the start if
// none ever does), sampling the video element twice a second, then prints
// one JSON line:
//
//   {"chromium": "156...", "hlsjs": "1.7.4", "supported": {...},
//    "samples": [{"t": ms, "currentTime": s, "readyState": n,
//                 "totalVideoFrames": n, "droppedVideoFrames": n,
//                 "audioBytes": n, "videoBytes": n, "latency": s|null}],
//    "errors": [{"type", "details", "fatal", "reason"}], "fatal": bool,
//    "fragsLoaded": n, "levelsLoaded": n, "live": bool|null,
//    "codecs": {"video": "...", "audio": "..."},
//    "preview": {"status": n, "previewStartSeconds": "...",
//                "streamMediaId": "...", "contentType": "...", "body": "..."}
//                | {"error": "..."}}
//
// latency is Date.now() minus hls.playingDate (the playhead's
// EXT-X-PROGRAM-DATE-TIME), printed as a figure, never judged here.
// Exits 0 when it could run the page at all (the caller judges the
// figures), 1 on a harness failure (no browser, bad arguments).
import { launch } from './peers/chromium.mjs';
import { HLSJS, startPageServer } from './peers/player_page.mjs';

function parseArgs(argv) {
  const args = {
    seconds: 8,
    hlsjs: HLSJS,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--url') args.url = v;
    else if (k === '--preview') args.preview = v;
    else if (k === '--seconds') args.seconds = Number(v);
    else if (k === '--hlsjs') args.hlsjs = v;
    else throw new Error(`unknown argument ${k}`);
    i++;
  }
  if (!args.url || !(args.seconds > 0)) {
    throw new Error('usage: hls_play.mjs --url PLAYLIST_URL [--seconds S] [--preview URL]');
  }
  return args;
}

// Runs in the page: starts hls.js on the playlist and keeps its state on
// window.__hls for the sampler.
function startPlayer(url) {
  const st = { errors: [], fragsLoaded: 0, levelsLoaded: 0, live: null, codecs: {}, fatal: false };
  window.__hls = st;
  st.supported = {
    hls: Hls.isSupported(),
    avc: MediaSource.isTypeSupported('video/mp4; codecs="avc1.42e01f"'),
    aac: MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'),
    opus: MediaSource.isTypeSupported('audio/mp4; codecs="opus"'),
  };
  st.version = Hls.version;
  if (!Hls.isSupported()) return;
  const video = document.getElementById('v');
  const hls = new Hls({ debug: false, enableWorker: true, lowLatencyMode: false });
  st.hls = hls;
  hls.on(Hls.Events.ERROR, (_e, d) => {
    st.errors.push({
      type: d.type, details: d.details, fatal: !!d.fatal,
      reason: d.reason || (d.error && String(d.error)) || (d.response && `HTTP ${d.response.code}`) || '',
    });
    if (d.fatal) st.fatal = true;
  });
  // The codecs hls.js found in the init segments and gave to MSE (one
  // "audiovideo" track for a muxed fMP4 stream).
  hls.on(Hls.Events.BUFFER_CODECS, (_e, d) => {
    for (const kind of ['video', 'audio', 'audiovideo']) {
      if (!d[kind]) continue;
      for (const c of (d[kind].codec || '').split(',')) {
        if (/^(avc|hvc|hev)/.test(c)) st.codecs.video = c;
        else if (c) st.codecs.audio = c;
      }
    }
  });
  hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => {
    st.levelsLoaded++;
    st.live = !!d.details.live;
  });
  hls.on(Hls.Events.FRAG_LOADED, () => { st.fragsLoaded++; });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch((e) => st.errors.push({ type: 'play', details: String(e), fatal: false, reason: '' }));
}

function sample() {
  const v = document.getElementById('v');
  const st = window.__hls;
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
  let latency = null;
  if (st.hls && st.hls.playingDate) latency = (Date.now() - st.hls.playingDate.getTime()) / 1000;
  return {
    currentTime: v.currentTime,
    readyState: v.readyState,
    totalVideoFrames: q.totalVideoFrames || 0,
    droppedVideoFrames: q.droppedVideoFrames || 0,
    audioBytes: v.webkitAudioDecodedByteCount || 0,
    videoBytes: v.webkitVideoDecodedByteCount || 0,
    latency,
  };
}

async function fetchPreview(url) {
  try {
    const r = await fetch(url, { cache: 'no-store' });
    return {
      status: r.status,
      previewStartSeconds: r.headers.get('Preview-Start-Seconds'),
      streamMediaId: r.headers.get('Stream-Media-Id'),
      contentType: r.headers.get('Content-Type'),
      body: await r.text(),
    };
  } catch (e) {
    return { error: String(e) };
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { server, origin } = await startPageServer(args.hlsjs, 'hls');
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const consoleLines = [];
    page.on('console', (m) => { if (consoleLines.length < 50) consoleLines.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => { if (consoleLines.length < 50) consoleLines.push(`pageerror: ${e}`); });
    await page.goto(`${origin}/`);
    await page.evaluate(startPlayer, args.url);

    const t0 = Date.now();
    const samples = [];
    // Wait (up to 30 s) for the first decoded frame, then play --seconds.
    let playingSince = null;
    for (;;) {
      const s = await page.evaluate(sample);
      s.t = Date.now() - t0;
      samples.push(s);
      if (playingSince === null && s.totalVideoFrames > 0) playingSince = Date.now();
      const fatal = await page.evaluate(() => window.__hls.fatal);
      if (fatal) break;
      if (playingSince !== null && Date.now() - playingSince >= args.seconds * 1000) break;
      if (playingSince === null && Date.now() - t0 >= Math.max(30000, args.seconds * 1000)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const st = await page.evaluate(() => {
      const s = window.__hls;
      return {
        errors: s.errors, fatal: s.fatal, fragsLoaded: s.fragsLoaded, levelsLoaded: s.levelsLoaded,
        live: s.live, codecs: s.codecs, supported: s.supported, version: s.version,
      };
    });
    const out = {
      chromium: browser.version(),
      hlsjs: st.version,
      pageOrigin: origin,
      supported: st.supported,
      samples,
      errors: st.errors,
      fatal: st.fatal,
      fragsLoaded: st.fragsLoaded,
      levelsLoaded: st.levelsLoaded,
      live: st.live,
      codecs: st.codecs,
      console: consoleLines,
    };
    if (args.preview) out.preview = await page.evaluate(fetchPreview, args.preview);
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
    server.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`hls_play: FAILED: ${e.stack || e}`);
  process.exit(1);
});
