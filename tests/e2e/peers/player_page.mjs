// The page the playback proofs (clip_play.mjs, hls_play.mjs) play in: a
// <video> element and hls.js, served by a small HTTP server on 127.0.0.1
// on a port of its own, so every request to clipgate is cross-origin
// (CORS applies to playlists, segments and the headers the page reads).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// hls.js from the source root's node_modules (what --hlsjs defaults to).
export const HLSJS = path.join(here, '..', '..', '..', 'node_modules', 'hls.js', 'dist',
  'hls.min.js');

function pageHtml(title) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><video id="v" muted playsinline width="320" height="240"></video>
<script src="/hls.min.js"></script></body></html>`;
}

// Serves the page (titled title) and hls.js from hlsjsPath on an
// ephemeral port; resolves to { server, origin }.
export function startPageServer(hlsjsPath, title) {
  const page = pageHtml(title);
  const hlsjs = fs.readFileSync(hlsjsPath);
  const server = http.createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else if (req.url === '/hls.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(hlsjs);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, origin: `http://127.0.0.1:${server.address().port}` });
    });
  });
}
