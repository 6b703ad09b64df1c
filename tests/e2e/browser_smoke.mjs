// Browser smoke: Debian's Chromium, driven by playwright-core, loads
// clipgate's /healthz and then fetches it cross-origin with an
// Authorization header, which makes Chromium send a real CORS preflight.
// Proves the browser path of the end-to-end harness works.
//
//   node tests/e2e/browser_smoke.mjs http://127.0.0.1:PORT
//
// Prints "browser smoke: ok ..." and exits 0, or prints the failure and
// exits 1.
import { launch } from './peers/chromium.mjs';

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function main() {
  const base = process.argv[2];
  check(base && base.startsWith('http://127.0.0.1:'), `usage: browser_smoke.mjs http://127.0.0.1:PORT (got ${base})`);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const resp = await page.goto(`${base}/healthz`);
    check(resp.status() === 200, `GET /healthz status ${resp.status()}`);
    check(resp.headers()['content-type'] === 'application/json',
      `content-type ${resp.headers()['content-type']}`);
    const doc = JSON.parse(await resp.text());
    check(doc.status === 'ok', `body ${JSON.stringify(doc)}`);

    // Another origin (localhost vs 127.0.0.1) with an Authorization header:
    // not a simple request, so Chromium preflights it with OPTIONS.
    const other = base.replace('127.0.0.1', 'localhost');
    await page.goto(`${other}/healthz`);
    const cross = await page.evaluate(async (url) => {
      try {
        const r = await fetch(url, { headers: { Authorization: 'Bearer smoke' } });
        return { status: r.status, body: await r.json() };
      } catch (e) {
        return { error: String(e) };
      }
    }, `${base}/healthz`);
    check(!cross.error, `cross-origin fetch failed: ${cross.error}`);
    check(cross.status === 200 && cross.body.status === 'ok',
      `cross-origin fetch ${JSON.stringify(cross)}`);
    console.log(`browser smoke: ok ${browser.version()} ${JSON.stringify(doc)}`);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`browser smoke: FAILED: ${e.stack || e}`);
  process.exit(1);
});
