// A real browser plays assetd's HLS from a page on another origin: the real
// server binary, a clip made with the ffmpeg CLI, hls.js in Debian's Chromium
// driven by playwright-core. This is what a CORS mistake on /media breaks.
//
//   ASSETD_BIN=target/release/assetd node --test tests/browser/
//
// TEST_LOG=1 shows the server's logs and the page's console; CHROMIUM_BIN
// overrides /usr/bin/chromium. A failure leaves a screenshot in target/browser/.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { launchChromium } from './chromium.mjs';

import { startServer, verbose } from '../node-shared/assetd-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const CLIP_SECONDS = 4;

async function makeClip(file) {
  const av = `testsrc=duration=${CLIP_SECONDS}:size=320x240:rate=25`;
  const tone = `sine=frequency=440:duration=${CLIP_SECONDS}`;
  await promisify(execFile)('ffmpeg', [
    '-y', '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', av, '-f', 'lavfi', '-i', tone,
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
    file,
  ]);
}

/** Uploads with enable_hls and waits for the stream; returns its manifest URL. */
async function uploadForHls(base, key, file) {
  const form = new FormData();
  form.append('method', 'direct');
  form.append('enable_hls', 'true');
  form.append('file', new Blob([await readFile(file)], { type: 'video/mp4' }), 'clip.mp4');
  const created = await fetch(`${base}/v1.3/assets`, {
    method: 'POST',
    headers: { 'x-api-key': key },
    body: form,
  });
  const body = await created.json();
  assert.equal(created.status, 201, JSON.stringify(body));

  const deadline = Date.now() + 120_000;
  for (;;) {
    const response = await fetch(`${base}/v1.3/assets/${body._id}`, { headers: { 'x-api-key': key } });
    const asset = await response.json();
    assert.equal(response.status, 200, JSON.stringify(asset));
    assert.notEqual(asset.hls?.status, 'error', JSON.stringify(asset));
    if (asset.hls?.status === 'ready') return asset.hls.manifest_url;
    assert.ok(Date.now() < deadline, `HLS never became ready: ${JSON.stringify(asset)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A page that plays `manifest` with hls.js and keeps what happened in `window.report`. */
function playerPage(manifest) {
  // JSON in a <script>: `<` escaped so that the URL cannot close the element.
  const source = JSON.stringify(manifest).replaceAll('<', '\\u003c');
  return `<!doctype html>
<meta charset="utf-8">
<title>assetd HLS from another origin</title>
<link rel="icon" href="data:,">
<video id="video" muted playsinline width="320" height="240"></video>
<script src="/hls.min.js"></script>
<script>
  const video = document.getElementById('video');
  const report = { hlsErrors: [], startGapSkips: [], videoErrors: [], ended: false, playError: null };
  window.report = report;
  video.addEventListener('error', () => {
    report.videoErrors.push(video.error ? video.error.code + ' ' + video.error.message : 'error');
  });
  video.addEventListener('ended', () => { report.ended = true; });
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_event, data) => {
    // hls.js reports its jump over the gap before the first frame (the encoder's
    // start delay: B-frames, AAC priming) as a non-fatal ERROR; ffmpeg's own
    // \`-c copy -f hls\` of the same clip gets the same one. Any other error counts.
    const startGapSkip = !data.fatal && data.details === 'bufferSeekOverHole' && video.currentTime < 0.5;
    (startGapSkip ? report.startGapSkips : report.hlsErrors).push({
      type: data.type,
      details: data.details,
      fatal: data.fatal,
      url: data.url || (data.context && data.context.url),
      status: data.response && data.response.code,
      reason: data.reason || (data.error && data.error.message),
    });
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    video.play().catch((error) => { report.playError = String(error); });
  });
  hls.loadSource(${source});
  hls.attachMedia(video);
</script>
`;
}

/** Serves the player page and hls.js (from node_modules, nothing from the internet) on its own port. */
async function startPageServer(manifest) {
  const hlsJs = await readFile(path.join(here, 'node_modules/hls.js/dist/hls.min.js'));
  const server = createServer((request, response) => {
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(playerPage(manifest));
    } else if (request.url === '/hls.min.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(hlsJs);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

test('a page on another origin plays the HLS stream with hls.js', { timeout: 240_000 }, async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'assetd-browser-'));
  const key = `tlk_browser_${randomUUID().replaceAll('-', '')}`;
  const cleanup = [() => rm(work, { recursive: true, force: true })];
  try {
    const server = await startServer(path.join(work, 'data'), key);
    cleanup.push(server.stop);
    const clip = path.join(work, 'clip.mp4');
    await makeClip(clip);
    const manifest = await uploadForHls(server.base, key, clip);

    const pages = await startPageServer(manifest);
    cleanup.push(pages.close);
    assert.notEqual(new URL(pages.url).origin, new URL(manifest).origin, 'the page must be cross-origin');

    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    const consoleLines = [];
    page.on('console', (message) => {
      consoleLines.push(`${message.type()}: ${message.text()}`);
      if (verbose) console.log(`page ${message.type()}: ${message.text()}`);
    });

    try {
      await page.goto(pages.url);
      // Until the end, or the first error; a time-out is judged by the asserts below.
      await page.waitForFunction(
        () => {
          const { hlsErrors, videoErrors, ended, playError } = window.report;
          return ended || hlsErrors.length > 0 || videoErrors.length > 0 || playError;
        },
        null,
        { timeout: 60_000, polling: 100 },
      ).catch(() => {});
      const seen = await page.evaluate(() => {
        const video = document.getElementById('video');
        return { ...window.report, currentTime: video.currentTime, duration: video.duration };
      });
      t.diagnostic(`played: ${JSON.stringify(seen)}`);
      const context = `${JSON.stringify(seen)}\nconsole:\n${consoleLines.join('\n')}`;
      assert.deepEqual(seen.hlsErrors, [], `hls.js reported errors: ${context}`);
      assert.deepEqual(seen.videoErrors, [], `the video element failed: ${context}`);
      assert.equal(seen.playError, null, `play() was refused: ${context}`);
      assert.ok(Math.abs(seen.duration - CLIP_SECONDS) < 0.5, `duration: ${context}`);
      assert.ok(seen.ended || seen.currentTime >= seen.duration - 0.5, `did not play to the end: ${context}`);
    } catch (error) {
      const shots = path.join(root, 'target/browser');
      await mkdir(shots, { recursive: true });
      const shot = path.join(shots, 'hls-playback-failure.png');
      await page.screenshot({ path: shot }).catch(() => {});
      error.message += `\nscreenshot: ${shot}`;
      throw error;
    }
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  }
});
