#!/usr/bin/env node
// Web UI proof: Debian's Chromium, launched as peers/chromium.mjs does
// (fake camera and microphone, loopback candidates) and driven by
// playwright-core, uses clipgate's own pages the way a person would:
//
//   node webui.mjs --base http://127.0.0.1:PORT --events-port N --stream NAME
//                  --token PUBLISH_TOKEN --artifacts DIR
//
// 1. Home (/) opens and its events indicator connects.
// 2. Publish (/ui/publish.html) without the token shows clipgate's 401
//    problem detail; with it, it goes live with the fake camera over WHIP.
// 3. Home shows the stream, from the stream.started event: the page makes
//    no request for state after it loaded (requests to /api/v1/streams and
//    /api/v1/recordings are counted).
// 4. Watch (/ui/watch.html) plays over WHEP (getStats framesDecoded, video
//    currentTime advancing; the viewer count from the viewers event), then
//    over HLS with hls.js.
// 5. Clip studio (/ui/studio.html?stream=) shows a thumbnail per segment,
//    sets a 5 s range, creates the clip; the clip shows in the list (and in
//    a second studio page, from the clip.created event), and its MP4 plays
//    in the studio's <video>.
// 6. Publish stops; Home shows the broadcast ended, from events.
//
// With --scenario reconnect it only opens Home, prints "UP" once the events
// are connected, and then waits (60 s at most) for the indicator to go down
// and come back, which the caller causes by restarting clipgate on the same
// ports; it reports the indicator's states and the state requests Home made
// after it reconnected (it reloads, since it may have missed events).
//
// Every request of every page is routed: anything not addressed to
// clipgate (its HTTP port or its events port on the same host) is aborted
// and listed. A screenshot of each page goes to --artifacts.
//
// Prints one JSON line with what it saw (the caller asserts):
//   {"chromium", "steps": {...}, "requests": n, "foreign": [...],
//    "websockets": [...], "pageErrors": [...], "console": [...]}
// Exits 0 when it could drive the browser at all, 1 on a harness failure.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './peers/chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const a = { stream: 'webui', artifacts: path.join(here, 'artifacts', 'webui') };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--base') a.base = v.replace(/\/$/, '');
    else if (k === '--events-port') a.eventsPort = Number(v);
    else if (k === '--stream') a.stream = v;
    else if (k === '--token') a.token = v;
    else if (k === '--artifacts') a.artifacts = v;
    else if (k === '--scenario') a.scenario = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.base || !a.eventsPort) {
    throw new Error('usage: webui.mjs --base URL --events-port N [--stream NAME] [--artifacts DIR]');
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const base = new URL(args.base);
const out = {
  steps: {}, foreign: [], websockets: [], pageErrors: [], console: [], httpErrors: [], requests: 0,
};
const log = (...m) => process.stderr.write(`webui: ${m.join(' ')}\n`);

// Ours: clipgate's host, on its HTTP or events port.
function isClipgate(url) {
  const u = new URL(url);
  if (u.protocol === 'data:' || u.protocol === 'blob:') return true;
  const port = Number(u.port || (u.protocol === 'https:' || u.protocol === 'wss:' ? 443 : 80));
  return u.hostname === base.hostname && (port === Number(base.port) || port === args.eventsPort);
}

const allRequests = []; // [pageName, method, url, t]

async function newPage(context, name) {
  const page = await context.newPage();
  page.on('request', (r) => {
    out.requests++;
    allRequests.push([name, r.method(), r.url(), Date.now()]);
  });
  page.on('websocket', (ws) => out.websockets.push({ page: name, url: ws.url() }));
  page.on('response', (r) => {
    if (r.status() >= 400) out.httpErrors.push(`${name}: ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('pageerror', (e) => out.pageErrors.push(`${name}: ${e}`));
  page.on('console', (m) => {
    if ((m.type() === 'error' || m.type() === 'warning') && out.console.length < 60) {
      out.console.push(`${name} ${m.type()}: ${m.text()}`);
    }
  });
  return page;
}

// Requests of one page for state, after time t.
function stateRequests(name, t) {
  return allRequests.filter(([p, , url, at]) => p === name && at > t
    && /\/api\/v1\/(streams|recordings)(\/|\?|$)/.test(new URL(url).pathname + '/')).map((r) => r[2]);
}

async function shot(page, file) {
  fs.mkdirSync(args.artifacts, { recursive: true });
  const p = path.join(args.artifacts, file);
  await page.screenshot({ path: p, fullPage: true });
  return p;
}

async function until(what, fn, ms = 30000, step = 250) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return { value: v, ms: Date.now() - t0 };
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

// Runs a step, recording its outcome; a failed step ends the run (later
// steps depend on it) but the output is still printed.
async function step(name, fn) {
  const t0 = Date.now();
  try {
    const r = (await fn()) || {};
    out.steps[name] = { ok: true, ms: Date.now() - t0, ...r };
    log(`${name}: ok ${JSON.stringify(r)}`);
  } catch (e) {
    out.steps[name] = { ok: false, ms: Date.now() - t0, error: String(e && e.message ? e.message : e) };
    log(`${name}: FAILED ${e && e.stack ? e.stack : e}`);
    throw e;
  }
}

async function main() {
  const browser = await launch();
  out.chromium = browser.version();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isClipgate(url)) return route.continue();
    out.foreign.push(url);
    return route.abort();
  });
  const streamQ = encodeURIComponent(args.stream);
  let home;
  let pub;
  let watch;
  let studio;
  try {
    await step('home', async () => {
      home = await newPage(context, 'home');
      await home.goto(`${args.base}/`);
      const up = await until('the events indicator', () => home.evaluate(() => document.querySelector('#events').dataset.state === 'up'), 15000);
      // The state is read once, after the events connection opened.
      await until('the first state load', () => stateRequests('home', 0).length >= 2, 10000);
      await home.waitForLoadState('networkidle');
      const empty = await home.evaluate(() => !document.querySelector('#live-empty').hidden);
      // From now on, note when the stream's card comes and goes (the
      // page's clock is this machine's wall clock, like the other pages').
      await home.evaluate(() => {
        window.cgSeen = [];
        new MutationObserver(() => {
          window.cgSeen.push({
            t: Date.now(),
            live: [...document.querySelectorAll('#live li')].map((li) => li.dataset.stream),
            ended: document.querySelectorAll('#recent .badge.ended').length,
          });
        }).observe(document.querySelector('main'), { childList: true, subtree: true });
      });
      return { eventsUpMs: up.ms, emptyShown: empty, screenshot: await shot(home, 'home.png') };
    });
    const homeLoaded = Date.now();

    let published = 0;
    await step('publish', async () => {
      pub = await newPage(context, 'publish');
      await pub.goto(`${args.base}/ui/publish.html`);
      await pub.fill('#name', args.stream);
      await pub.selectOption('#size', '640x360');
      // When the page says live (ICE and DTLS connected, the session made).
      await pub.evaluate(() => {
        const st = document.querySelector('#state');
        new MutationObserver(() => {
          if (st.dataset.state === 'live' && !window.cgLiveAt) window.cgLiveAt = Date.now();
        }).observe(st, { attributes: true });
      });
      // No token: the page says what clipgate's 401 problem says.
      await pub.click('#start');
      const refused = await until('the 401 explained', () => pub.evaluate(() => {
        const s = document.querySelector('#status');
        return s.dataset.kind === 'error' && !s.hidden && !document.querySelector('#start').disabled
          ? s.textContent : null;
      }), 20000);
      await pub.fill('#token', args.token || '');
      await pub.click('#start');
      const live = await until('the publish page to be live',
        () => pub.evaluate(() => {
          const err = document.querySelector('#status');
          if (err.dataset.kind === 'error' && !err.hidden) throw new Error(err.textContent);
          return document.querySelector('#state').dataset.state === 'live';
        }), 30000);
      published = await pub.evaluate(() => window.cgLiveAt);
      // A few seconds of stats.
      await until('bitrate stats', () => pub.evaluate(() => /bit\/s/.test(document.querySelector('#s-bitrate').textContent)), 15000);
      const stats = await pub.evaluate(() => ({
        codec: document.querySelector('#s-codec').textContent,
        video: document.querySelector('#s-video').textContent,
        fps: document.querySelector('#s-fps').textContent,
        bitrate: document.querySelector('#s-bitrate').textContent,
        lost: document.querySelector('#s-lost').textContent,
      }));
      return { refused: refused.value, connectMs: live.ms, stats, screenshot: await shot(pub, 'publish.png') };
    });

    await step('home_live', async () => {
      const seen = await until('the stream on the home page',
        () => home.evaluate((name) => !!document.querySelector(`#live li[data-stream="${CSS.escape(name)}"]`), args.stream), 20000, 50);
      const shownAt = await home.evaluate((name) => (window.cgSeen.find((x) => x.live.includes(name)) || {}).t, args.stream);
      const liveRow = await home.evaluate(() => !!document.querySelector('#recent tr .badge.live'));
      return {
        shownMs: seen.ms,
        // negative: Home showed it before the publisher's DTLS was up
        afterConnectedMs: shownAt - published,
        liveRow,
        stateRequestsAfterLoad: stateRequests('home', homeLoaded),
        screenshot: await shot(home, 'home-live.png'),
        phone: await (async () => {
          await home.setViewportSize({ width: 390, height: 844 });
          const p = await shot(home, 'home-phone.png');
          await home.setViewportSize({ width: 1280, height: 800 });
          return p;
        })(),
      };
    });

    await step('watch_whep', async () => {
      watch = await newPage(context, 'watch');
      await watch.goto(`${args.base}/ui/watch.html?stream=${streamQ}`);
      const stats = () => watch.evaluate(async () => {
        const pc = window.clipgate.pc;
        if (!pc) return null;
        let frames = 0;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
        });
        return { frames, currentTime: document.querySelector('#video').currentTime };
      });
      const first = await until('WHEP frames decoded', async () => {
        const s = await stats();
        return s && s.frames > 0 && s.currentTime > 0 ? s : null;
      }, 30000);
      await new Promise((r) => setTimeout(r, 3000));
      const later = await stats();
      const viewers = await until('the viewer count', () => watch.evaluate(() => {
        const v = document.querySelector('#s-viewers').textContent;
        return v === '1' ? v : null;
      }), 10000);
      const homeViewers = await home.evaluate((name) => {
        const li = document.querySelector(`#live li[data-stream="${CSS.escape(name)}"] .viewers`);
        return li ? li.textContent : null;
      }, args.stream);
      const latency = await watch.evaluate(() => [document.querySelector('#s-latency').textContent,
        document.querySelector('#s-latency-how').textContent]);
      return {
        firstFrameMs: first.ms,
        frames: [first.value.frames, later.frames],
        currentTime: [first.value.currentTime, later.currentTime],
        viewers: viewers.value,
        homeViewers,
        latency,
        screenshot: await shot(watch, 'watch-whep.png'),
      };
    });

    await step('watch_hls', async () => {
      await watch.click('#mode-hls');
      const sample = () => watch.evaluate(() => {
        const v = document.querySelector('#video');
        const q = v.getVideoPlaybackQuality();
        return {
          hlsjs: !!window.clipgate.hls,
          version: window.Hls ? window.Hls.version : null,
          pcGone: window.clipgate.pc === null,
          frames: q.totalVideoFrames,
          currentTime: v.currentTime,
          latency: document.querySelector('#s-latency').textContent,
        };
      });
      const first = await until('HLS frames', async () => {
        const s = await sample();
        return s.hlsjs && s.frames > 0 && s.currentTime > 0 ? s : null;
      }, 40000);
      await new Promise((r) => setTimeout(r, 3000));
      const later = await sample();
      const viewers = await until('the viewer count back to 0', () => watch.evaluate(() => {
        const v = document.querySelector('#s-viewers').textContent;
        return v === '0' ? v : null;
      }), 10000);
      return {
        firstFrameMs: first.ms,
        version: later.version,
        pcGone: later.pcGone,
        frames: [first.value.frames, later.frames],
        currentTime: [first.value.currentTime, later.currentTime],
        latency: later.latency,
        viewersAfterLeavingWhep: viewers.value,
        screenshot: await shot(watch, 'watch-hls.png'),
      };
    });
    await watch.close();

    let other;
    let clipId = null;
    await step('studio', async () => {
      studio = await newPage(context, 'studio');
      await studio.goto(`${args.base}/ui/studio.html?stream=${streamQ}`);
      // A second studio on the same stream learns about the clip from the
      // clip.created event only.
      other = await newPage(context, 'studio2');
      await other.goto(`${args.base}/ui/studio.html?stream=${streamQ}`);
      // Enough broadcast for a 5 s clip, and thumbnails.
      const ready = await until('segments with thumbnails', () => studio.evaluate(() => {
        const imgs = [...document.querySelectorAll('#thumbs img')];
        const done = imgs.filter((i) => i.complete && i.naturalWidth > 0);
        const st = window.clipgate;
        const segs = [...st.segs.values()];
        const end = segs.length ? Math.max(...segs.map((s) => s.start + s.duration)) : 0;
        return done.length >= 2 && end >= 7 && st.offset !== null
          ? { thumbs: done.length, widths: done.map((i) => i.naturalWidth), heights: done.map((i) => i.naturalHeight), segments: segs.length, end }
          : null;
      }), 90000, 500);
      const ticks = await studio.evaluate(() => ({
        seg: document.querySelectorAll('#ticks .tick.seg').length,
        key: document.querySelectorAll('#ticks .tick.key').length,
      }));
      // Scrub: a click in the middle of the timeline moves the playhead there.
      const box = await studio.locator('#timeline').boundingBox();
      await studio.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.5);
      await new Promise((r) => setTimeout(r, 500));
      const scrubbed = await studio.evaluate(() => window.clipgate.offset !== null
        && document.querySelector('#video').currentTime + window.clipgate.offset);
      // Range: "Last 30 s" gives the out-point at the end; the in-point is
      // typed 5 s before it.
      await studio.click('#last30');
      const outT = Number(await studio.inputValue('#out'));
      await studio.fill('#in', (outT - 5).toFixed(3));
      await studio.dispatchEvent('#in', 'change');
      const len = await studio.textContent('#len');
      // Preview: plays from the in-point and stops at the out-point.
      await studio.click('#preview');
      const previewed = await until('the range preview to stop at the out-point', () => studio.evaluate(() => {
        const st = window.clipgate;
        const t = document.querySelector('#video').currentTime + st.offset;
        return !st.previewing && document.querySelector('#video').paused ? t : null;
      }), 20000);
      return { ...ready.value, ticks, scrubbedTo: scrubbed, range: [outT - 5, outT], len, previewStoppedAt: previewed.value, screenshot: await shot(studio, 'studio.png') };
    });

    await step('clip', async () => {
      const before = Date.now();
      await studio.click('#create');
      const made = await until('the clip in the list', () => studio.evaluate(() => {
        const s = document.querySelector('#status');
        if (s.dataset.kind === 'error' && !s.hidden) throw new Error(s.textContent);
        const li = document.querySelector('#clips li.clip');
        return li ? li.dataset.clip : null;
      }), 30000);
      clipId = made.value;
      const status = await studio.textContent('#status');
      const inOther = await until('the clip in the second studio (clip.created event)', () => other.evaluate((id) => !!document.querySelector(`#clips li[data-clip="${id}"]`), clipId), 15000);
      const otherListLoads = allRequests.filter(([p, m, url, at]) => p === 'studio2' && at > before
        && new URL(url).pathname === '/api/v1/clips').length;
      // Play its MP4 in the studio's clip player.
      await studio.click(`#clips li[data-clip="${clipId}"] button.play`);
      const played = await until('the clip MP4 to play', () => studio.evaluate(() => {
        const v = document.querySelector('#clip-player');
        if (v.error) throw new Error(`clip player error ${v.error.code}: ${v.error.message}`);
        const q = v.getVideoPlaybackQuality();
        return (v.ended || v.currentTime > 4) && q.totalVideoFrames > 0
          ? { duration: v.duration, frames: q.totalVideoFrames, src: v.currentSrc, ended: v.ended }
          : null;
      }), 30000);
      const links = await studio.evaluate((id) => {
        const li = document.querySelector(`#clips li[data-clip="${id}"]`);
        return { download: li.querySelector('a.download').getAttribute('href'), buttons: [...li.querySelectorAll('button')].map((b) => b.textContent) };
      }, clipId);
      // The same page at phone width, in the dark scheme.
      await studio.setViewportSize({ width: 390, height: 844 });
      await studio.emulateMedia({ colorScheme: 'dark' });
      await shot(studio, 'studio-phone.png');
      await studio.emulateMedia({ colorScheme: 'light' });
      await studio.setViewportSize({ width: 1280, height: 800 });
      return {
        id: clipId, createMs: made.ms, status, shownInOtherMs: inOther.ms, otherListLoads,
        ...played.value, links, screenshot: await shot(studio, 'studio-clip.png'),
      };
    });

    await step('stop', async () => {
      const t = Date.now();
      await pub.click('#stop');
      const n = await home.evaluate(() => window.cgSeen.length);
      await until('the stream to leave the home page', () => home.evaluate((name) => !document.querySelector(`#live li[data-stream="${CSS.escape(name)}"]`), args.stream), 20000, 50);
      const ended = await until('the broadcast to show as ended', () => home.evaluate(() => !!document.querySelector('#recent tr .badge.ended')), 20000, 50);
      return {
        endedMs: ended.ms,
        stateRequestsAfterLoad: stateRequests('home', homeLoaded),
        // The DELETE went through: no error on the Publish page.
        publishStatus: await pub.evaluate(() => {
          const st = document.querySelector('#status');
          return st.hidden ? '' : `${st.dataset.kind}: ${st.textContent}`;
        }),
        goneAfterStopMs: await home.evaluate(([name, from, t0]) => {
          const x = window.cgSeen.slice(from).find((e) => !e.live.includes(name));
          return x ? x.t - t0 : null;
        }, [args.stream, n, t]),
        endedAfterStopMs: await home.evaluate(([from, t0]) => {
          const x = window.cgSeen.slice(from).find((e) => e.ended > 0);
          return x ? x.t - t0 : null;
        }, [n, t]),
        screenshot: await shot(home, 'home-ended.png'),
      };
    });

    await step('studio_ended', async () => {
      // The ended broadcast in the studio: its recording playlist, the
      // whole timeline with thumbnails, and the clip made while it was live.
      const id = await studio.evaluate(() => window.clipgate.broadcast);
      await studio.goto(`${args.base}/ui/studio.html?broadcast=${encodeURIComponent(id)}`);
      const r = await until('the ended broadcast in the studio', () => studio.evaluate((clip) => {
        const st = window.clipgate;
        const imgs = [...document.querySelectorAll('#thumbs img')].filter((i) => i.complete && i.naturalWidth > 0);
        const listed = !!document.querySelector(`#clips li[data-clip="${clip}"]`);
        return st.offset !== null && imgs.length >= 2 && listed && document.querySelector('#video').currentTime > 0
          ? { thumbs: imgs.length, segments: st.segs.size, state: document.querySelector('#state').textContent, offset: st.offset }
          : null;
      }, clipId), 30000, 500);
      return { broadcast: id, ...r.value, screenshot: await shot(studio, 'studio-ended.png') };
    });
  } catch (_) {
    // recorded in out.steps
  } finally {
    out.wsPerPage = {};
    for (const w of out.websockets) out.wsPerPage[w.page] = (out.wsPerPage[w.page] || 0) + 1;
    out.notClipgate = allRequests.filter((r) => !isClipgate(r[2])).map((r) => r[2]);
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

async function reconnect() {
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const home = await newPage(context, 'home');
    await home.goto(`${args.base}/`);
    await until('the events indicator', () => home.evaluate(() => document.querySelector('#events').dataset.state === 'up'), 15000);
    await home.waitForLoadState('networkidle');
    await home.evaluate(() => {
      const dot = document.querySelector('#events');
      window.cgStates = [dot.dataset.state];
      new MutationObserver(() => window.cgStates.push(dot.dataset.state))
        .observe(dot, { attributes: true, attributeFilter: ['data-state'] });
    });
    const t = Date.now();
    console.log('UP');
    let back = null;
    try {
      back = await until('the events indicator to drop and come back', () => home.evaluate(() => {
        const st = window.cgStates;
        const down = st.findIndex((x) => x !== 'up');
        return down > 0 && st.lastIndexOf('up') > down ? st : null;
      }), 60000, 100);
    } catch (e) {
      out.error = String(e.message);
    }
    await new Promise((r) => setTimeout(r, 1000)); // the reload's requests
    out.states = await home.evaluate(() => window.cgStates);
    out.backMs = back ? back.ms : null;
    out.reloaded = stateRequests('home', t);
    out.text = await home.textContent('#events');
    out.foreign = out.foreign.concat(allRequests.filter((r) => !isClipgate(r[2])).map((r) => r[2]));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

(args.scenario === 'reconnect' ? reconnect() : main()).then(() => process.exit(0), (e) => {
  console.error(`webui: FAILED: ${e.stack || e}`);
  process.exit(1);
});
