// Launching Debian's Chromium for the WebRTC peers in this directory
// (chromium_offer.mjs, chromium_whep.mjs), driven by playwright-core from
// the source root's node_modules.
//
// --allow-loopback-in-peer-connection is what makes Chromium gather
// candidates on 127.0.0.1 inside a loopback-only network namespace; the
// fake devices stand in for a camera and a microphone.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { chromium } = require(path.join(here, '..', '..', '..', 'node_modules', 'playwright-core'));

export const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CG_CHROMIUM || '/usr/bin/chromium', args: FLAGS,
  });
}

// A page on http://localhost/ (a secure context, so getUserMedia works),
// served by Playwright's router: no server has to listen. body is the
// page's HTML body.
export async function openPage(browser, title, body = '') {
  const page = await browser.newPage();
  const html = `<!doctype html><title>${title}</title>${body}`;
  await page.route('http://localhost/**', (r) => r.fulfill({ contentType: 'text/html', body: html }));
  await page.goto('http://localhost/');
  return page;
}

// Runs in the page: resolves once window.cgPc is connected (ICE and
// DTLS), rejects if it fails or takes longer than ms.
export function pageConnected(ms) {
  const pc = window.cgPc;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pc.connectionState === 'connected') resolve();
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed')
        reject(new Error(`peer connection ${pc.connectionState}`));
    };
    pc.addEventListener('connectionstatechange', check);
    setTimeout(() => reject(new Error(`not connected after ${ms} ms (${pc.connectionState})`)), ms);
    check();
  });
}
