// The web console (/console/) in headless Chromium against the real server
// binary: sign-in, uploads through the page (chunked, resumed after a
// reload), live status, thumbnails, HLS playback, filters, deletes (refused
// while an index references the asset, then forced), the operator view, a
// phone-sized screen, sign-out. Every request of the page must go to assetd's
// own origin.
//
//   ASSETD_BIN=target/release/assetd node --test tests/browser/
//
// TEST_LOG=1 shows the server's logs and the page's console; CHROMIUM_BIN
// overrides /usr/bin/chromium. A failed step leaves a screenshot named after
// it in target/browser/.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
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

// The least chunk size the server takes, so that a clip of a few MB is sent in several chunks.
const CHUNK_BYTES = 5 * 1024 * 1024;
const WAIT = { timeout: 60_000 };
const INDEX_NAME = 'console test index';

const run = promisify(execFile);

/** A 4 s H.264/AAC clip; the noise keeps it over one chunk (checked below). */
async function makeClip(file) {
  await run('ffmpeg', [
    '-y', '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc=duration=4:size=640x360:rate=25,noise=alls=40:allf=t',
    '-f', 'lavfi', '-i', 'sine=frequency=440:duration=4',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '20', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
    file,
  ]);
}

async function makeImage(file) {
  await run('ffmpeg', ['-y', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240', '-frames:v', '1', file]);
}

/**
 * What assetd itself talks to (never the page): `/broken.mp4`, a URL upload
 * whose download always breaks off (so its fetch job fails), and `/hook`, a
 * webhook receiver.
 */
async function startOrigin(clip) {
  const head = (await readFile(clip)).subarray(0, 64 * 1024);
  const server = createServer((request, response) => {
    if (request.url === '/broken.mp4') {
      // No Content-Length: assetd checks the first bytes, then a job downloads the rest, which never comes.
      response.writeHead(200, { 'content-type': 'video/mp4' });
      response.write(head, () => setTimeout(() => response.destroy(), 50));
    } else if (request.url === '/hook' && request.method === 'POST') {
      request.resume();
      request.on('end', () => response.writeHead(200).end());
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

/** The API, as the test itself calls it (setting up what the page then shows). */
function apiClient(base, key) {
  return async function call(method, route, body) {
    const init = { method, headers: { 'x-api-key': key } };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`${base}/v1.3${route}`, init);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
}

/** Polls `probe` until it returns something truthy. */
/**
 * Runs in the page: the visible text whose contrast with what is behind it is
 * under WCAG 2 AA (4.5:1, or 3:1 for large text), as `"text" ratio`. Disabled
 * controls are exempt, as WCAG has it. Colours are composed over the nearest
 * ancestors' backgrounds, down to the page's white.
 */
function lowContrastText() {
  const parse = (css) => {
    const [r, g, b, a = 1] = css.match(/[\d.]+/g).map(Number);
    return { r, g, b, a };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (element) => {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color.a > 0) layers.push(color);
      if (color.a === 1) break;
    }
    return layers.reverse().reduce((under, layer) => over(layer, under), { r: 255, g: 255, b: 255, a: 1 });
  };
  const luminance = ({ r, g, b }) => {
    const linear = (c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const faint = [];
  for (const element of document.body.querySelectorAll('*')) {
    const ownText = [...element.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!ownText || !element.checkVisibility({ opacityProperty: true }) || element.closest(':disabled')) continue;
    const style = getComputedStyle(element);
    const behind = background(element);
    const text = over(parse(style.color), behind);
    const [light, dark] = [luminance(text), luminance(behind)].sort((x, y) => y - x);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) faint.push(`"${element.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}`);
  }
  return faint;
}

async function eventually(what, probe, timeout = WAIT.timeout) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('the web console, end to end in a browser', { timeout: 240_000 }, async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'assetd-console-'));
  const key = `tlk_console_${randomUUID().replaceAll('-', '')}`;
  const cleanup = [() => rm(work, { recursive: true, force: true })];
  try {
    const clip = path.join(work, 'clip.mp4');
    const image = path.join(work, 'photo.png');
    await Promise.all([makeClip(clip), makeImage(image)]);
    assert.ok((await stat(clip)).size > CHUNK_BYTES, 'the clip must need more than one chunk');

    const origin = await startOrigin(clip);
    cleanup.push(origin.close);
    const server = await startServer(path.join(work, 'data'), key, {
      ASSETD_MULTIPART_CHUNK_BYTES: String(CHUNK_BYTES),
      ASSETD_ALLOW_PRIVATE_URLS: 'true', // the URL upload and the webhook go to the loopback origin above
      ASSETD_JOB_RETRY_MS: '200', // the broken download fails for good within a second or two
    });
    cleanup.push(server.stop);
    const call = apiClient(server.base, key);
    const serverOrigin = new URL(server.base).origin;
    // Without its slash: the server redirects to /console/, against which the page's relative URLs resolve.
    const consoleUrl = `${server.base}/console`;

    const hook = await call('POST', '/webhooks', { url: `${origin.base}/hook` });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));

    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });

    const requested = [];
    const problems = []; // uncaught exceptions and Content-Security-Policy refusals
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (verbose) console.log(`page ${message.type()}: ${message.text()}`);
      if (message.text().includes('Content Security Policy')) problems.push(`CSP: ${message.text()}`);
    });

    // Each step screenshots the page when it fails; after a failure the rest are skipped, not timed out one by one.
    let failedStep = null;
    const step = (name, body) => t.test(name, { skip: failedStep ? `after "${failedStep}" failed` : false }, async () => {
      try {
        await body();
      } catch (error) {
        failedStep = name;
        const shots = path.join(root, 'target/browser');
        await mkdir(shots, { recursive: true });
        const shot = path.join(shots, `console-${name.replaceAll(/[^a-z0-9]+/gi, '-')}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        error.message += `\nscreenshot: ${shot}`;
        throw error;
      }
    });

    const byTestId = (id) => page.locator(`[data-testid="${id}"]`);
    const row = (assetId) => page.locator(`[data-testid="asset-row"][data-asset-id="${assetId}"]`);
    const openUploads = () => page.evaluate(() => JSON.parse(localStorage.getItem('assetd.uploads') ?? '[]'));
    const showAllAssets = async () => {
      await page.evaluate(() => {
        location.hash = '#/assets';
      });
      await byTestId('filter-kind').selectOption('');
      await byTestId('filter-name').fill('');
      await byTestId('filter-submit').click();
    };
    /** The asset id an upload item links to once its asset is ready. */
    const readyUploadAsset = async (item) => {
      await item.and(page.locator('[data-state="ready"]')).waitFor(WAIT);
      return (await item.getByTestId('upload-open').getAttribute('href')).split('/').pop();
    };

    let videoId;
    let imageId;
    let resumedId;

    await step('refuses a wrong key', async () => {
      await page.goto(consoleUrl);
      assert.equal(page.url(), `${consoleUrl}/`);
      await byTestId('api-key-input').fill('tlk_not_a_key');
      await byTestId('sign-in-submit').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="sign-in-error"]').textContent.includes('refused'), null, WAIT);
      assert.ok(await byTestId('sign-in-form').isVisible(), 'still on the sign-in form');
      assert.ok(await byTestId('assets-view').isHidden());
      assert.equal(await page.evaluate(() => sessionStorage.getItem('assetd.apiKey')), null);
    });

    await step('signs in with the keyboard alone', async () => {
      await byTestId('api-key-input').fill('');
      // The sign-in form focuses the key's field; typing and Enter are all it takes.
      await page.waitForFunction(() => document.activeElement?.id === 'api-key', null, WAIT);
      await page.keyboard.type(key);
      await page.keyboard.press('Enter');
      await byTestId('assets-view').waitFor({ state: 'visible', ...WAIT });
      assert.equal(await page.evaluate(() => sessionStorage.getItem('assetd.apiKey')), key);
      assert.equal(await byTestId('sign-in-error').textContent(), '');
      // Focus is visible: a tabbed-to control gets an outline.
      await byTestId('nav-assets').focus();
      await page.keyboard.press('Tab');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, 'none', 'the focused control shows its focus');
    });

    await step('refuses a dropped file that is not media', async () => {
      const dropped = await page.evaluateHandle(() => {
        const data = new DataTransfer();
        data.items.add(new File(['just words'], 'notes.txt', { type: 'text/plain' }));
        return data;
      });
      await byTestId('drop-zone').dispatchEvent('drop', { dataTransfer: dropped });
      const item = page.locator('[data-testid="upload-item"][data-filename="notes.txt"]');
      await item.and(page.locator('[data-state="failed"]')).waitFor(WAIT);
      assert.match(await item.getByTestId('upload-status').textContent(), /not video, audio or image/);
    });

    await step('uploads a video in chunks and follows it to ready, with its thumbnail', async () => {
      await byTestId('option-hls').check();
      await byTestId('option-thumbnail').check();
      await byTestId('file-input').setInputFiles(clip);
      const item = byTestId('upload-item').first();
      videoId = await readyUploadAsset(item);
      assert.equal(await item.getByTestId('upload-progress').evaluate((bar) => bar.value), 1);
      assert.deepEqual(await openUploads(), [], 'a finished upload is not kept for resuming');

      // The list follows the steps live until both are ready.
      const card = row(videoId);
      await card.locator('[data-testid="asset-hls-status"][data-status="ready"]').waitFor(WAIT);
      await card.locator('[data-testid="asset-thumbnail-status"][data-status="ready"]').waitFor(WAIT);
      assert.equal(await card.getByTestId('asset-status').textContent(), 'ready');
      const facts = await card.locator('dl').textContent();
      assert.match(facts, /Kindvideo/);
      assert.match(facts, /Size\d+(\.\d)? MB/);
      assert.match(facts, /Duration0:04/);
      const thumbnail = card.getByTestId('asset-thumbnail');
      await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumbnail.elementHandle(), WAIT);
      await page.waitForFunction(() => document.querySelector('[data-testid="announcer"]').textContent.includes('clip.mp4'), null, WAIT);
    });

    await step('plays the HLS stream on the asset page', async () => {
      await row(videoId).getByTestId('asset-link').click();
      await page.waitForURL(`**/console/#/assets/${videoId}`);
      await page.waitForFunction(() => document.querySelector('[data-testid="asset-title"]').textContent === 'clip.mp4', null, WAIT);
      const video = byTestId('asset-video');
      await video.waitFor(WAIT);
      await video.evaluate((element) => {
        window.videoErrors = [];
        element.addEventListener('error', () => window.videoErrors.push(element.error?.message ?? 'error'));
        element.muted = true;
        return element.play();
      });
      await page.waitForFunction(() => document.querySelector('[data-testid="asset-video"]').currentTime > 1.5, null, WAIT);
      assert.deepEqual(await page.evaluate(() => window.videoErrors), []);
      assert.equal(await byTestId('player-error').textContent(), '');

      const detailThumbnail = await byTestId('asset-detail-thumbnail').elementHandle();
      await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, detailThumbnail, WAIT);
      // Readable technical metadata: terms and values, not JSON.
      const technical = await byTestId('technical-metadata').textContent();
      assert.match(technical, /Video codec\s*h264/);
      assert.match(technical, /Video width\s*640 px/);
      assert.ok(!technical.includes('{'), technical);
      assert.ok(await byTestId('no-references').isVisible());
    });

    await step('resumes an interrupted upload after a reload, sending only the missing chunks', async () => {
      await byTestId('back-to-list').click();
      // Chunk 2 cannot get through: the upload stops after its retries.
      const chunkOf = (url) => Number(/\/uploads\/[^/]+\/(\d+)\//.exec(url)?.[1]);
      const blockChunkTwo = (route) => (chunkOf(route.request().url()) === 2 ? route.abort('connectionreset') : route.continue());
      await page.route('**/uploads/**', blockChunkTwo);
      await byTestId('file-input').setInputFiles(clip);
      const stopped = byTestId('upload-item').first();
      await stopped.and(page.locator('[data-state="failed"]')).waitFor(WAIT);
      assert.ok(await stopped.getByTestId('upload-resume').isVisible(), 'offers to resume');
      const [saved] = await openUploads();
      assert.equal(saved?.name, 'clip.mp4');
      await page.unroute('**/uploads/**', blockChunkTwo);
      const status = await call('GET', `/assets/multipart-uploads/${saved.upload_id}?page_limit=50`);
      const missing = status.body.uploaded_chunks.filter((chunk) => chunk.status !== 'completed').map((chunk) => chunk.index).sort((a, b) => a - b);
      assert.ok(missing.includes(2) && !missing.includes(1), `chunk 1 went, chunk 2 did not: ${JSON.stringify(status.body)}`);

      await page.reload();
      const pending = byTestId('pending-upload');
      await pending.waitFor(WAIT);
      assert.equal(await pending.getAttribute('data-upload-id'), saved.upload_id);
      const sentAfterReload = [];
      const recordPut = (request) => {
        if (request.method() === 'PUT') sentAfterReload.push(chunkOf(request.url()));
      };
      page.on('request', recordPut);
      await pending.getByTestId('resume-input').setInputFiles(clip);
      resumedId = await readyUploadAsset(byTestId('upload-item').first());
      page.off('request', recordPut);
      assert.equal(resumedId, saved.asset_id);
      assert.deepEqual(sentAfterReload.sort((a, b) => a - b), missing, 'only the missing chunks are sent again');
      assert.ok(await byTestId('pending-uploads').isHidden());
      assert.deepEqual(await openUploads(), []);
    });

    await step('filters the list by kind and by filename', async () => {
      const form = new FormData();
      form.append('method', 'direct');
      form.append('enable_thumbnail', 'true');
      form.append('file', new Blob([await readFile(image)], { type: 'image/png' }), 'photo.png');
      const created = await call('POST', '/assets', form);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      imageId = created.body._id;

      await showAllAssets();
      await row(imageId).waitFor(WAIT);
      await row(videoId).waitFor(WAIT);

      const shownRows = () => page.$$eval('[data-testid="asset-row"]', (rows) => rows.map((r) => ({
        kind: r.dataset.kind,
        name: r.querySelector('[data-testid="asset-link"]').textContent,
      })));
      const waitForRows = (what, accept) => eventually(what, async () => accept(await shownRows()));

      await byTestId('filter-kind').selectOption('video');
      await waitForRows('only videos', (rows) => rows.length === 2 && rows.every((r) => r.kind === 'video'));
      await byTestId('filter-kind').selectOption('image');
      await waitForRows('only the image', (rows) => rows.length === 1 && rows[0].name === 'photo.png');
      await byTestId('filter-kind').selectOption('');
      await byTestId('filter-name').fill('clip');
      await byTestId('filter-name').press('Enter');
      await waitForRows('the clips', (rows) => rows.length === 2 && rows.every((r) => r.name === 'clip.mp4'));
      await byTestId('filter-name').fill('PHOTO');
      await byTestId('filter-name').press('Enter');
      await waitForRows('the photo, case-insensitively', (rows) => rows.length === 1 && rows[0].name === 'photo.png');
      await byTestId('filter-kind').selectOption('video');
      await waitForRows('nothing', (rows) => rows.length === 0);
      assert.match(await byTestId('list-summary').textContent(), /No asset matches/);
    });

    await step('explains a refused delete, then deletes with force and without', async () => {
      const index = await call('POST', '/indexes', { index_name: INDEX_NAME, models: [{ model_name: 'marengo2.7' }] });
      assert.equal(index.status, 201, JSON.stringify(index.body));
      const reference = await call('POST', `/indexes/${index.body._id}/indexed-assets`, { asset_id: imageId });
      assert.equal(reference.status, 201, JSON.stringify(reference.body));

      await showAllAssets();
      await row(imageId).getByTestId('asset-link').click();
      await byTestId('reference').filter({ hasText: INDEX_NAME }).waitFor(WAIT);
      await byTestId('delete-asset').click();
      await byTestId('delete-confirm-yes').click();
      const conflict = byTestId('delete-conflict');
      await conflict.waitFor(WAIT);
      assert.match(await conflict.textContent(), /not deleted/);
      assert.ok((await conflict.textContent()).includes(INDEX_NAME), 'names the index that uses it');
      assert.equal((await call('GET', `/assets/${imageId}`)).status, 200, 'still there');

      await byTestId('delete-force').click();
      await page.waitForURL('**/console/#/assets');
      await byTestId('asset-list').waitFor(WAIT);
      await eventually('the image gone from the list', async () => (await row(imageId).count()) === 0 && (await row(videoId).count()) === 1);
      assert.equal((await call('GET', `/assets/${imageId}`)).status, 404);
      assert.equal((await call('GET', `/indexes/${index.body._id}/indexed-assets`)).body.data.length, 0);

      // No index uses the resumed upload: it goes at the first confirmation.
      await row(resumedId).getByTestId('asset-link').click();
      await byTestId('no-references').waitFor(WAIT);
      await byTestId('delete-asset').click();
      await byTestId('delete-confirm-yes').click();
      await page.waitForURL('**/console/#/assets');
      await eventually('the resumed upload gone from the list', async () => (await row(resumedId).count()) === 0 && (await row(videoId).count()) === 1);
      assert.equal((await call('GET', `/assets/${resumedId}`)).status, 404);
    });

    await step('uploads from a URL; the operator view shows jobs, a failed one to retry, and webhook deliveries', async () => {
      await byTestId('url-input').fill(`${origin.base}/broken.mp4`);
      await byTestId('url-submit').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="url-status"]').textContent.startsWith('Added broken.mp4'), null, WAIT);
      await eventually('the download job to fail', async () => (await call('GET', '/jobs')).body.failed.some((job) => job.kind === 'fetch'));
      await eventually('a webhook delivery', async () => (await call('GET', `/webhooks/${hook.body._id}/deliveries`)).body.data.some((d) => d.status_code === 200));

      await byTestId('nav-operator').click();
      const failedCount = page.locator('[data-testid="job-counts-table"] td[data-kind="fetch"][data-state="failed"]');
      await failedCount.waitFor(WAIT);
      assert.equal(await failedCount.textContent(), '1');
      const failedJobs = byTestId('failed-jobs-table');
      assert.match(await failedJobs.textContent(), /fetch/);
      assert.notEqual((await failedJobs.getByTestId('failed-job-error').first().textContent()).trim(), '');

      await failedJobs.getByTestId('retry-job').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="announcer"]').textContent.includes('Queued again: fetch'), null, WAIT);

      const webhook = byTestId('webhook');
      assert.ok((await webhook.textContent()).includes(`${origin.base}/hook`));
      assert.ok(await webhook.getByTestId('delivery-result').filter({ hasText: 'HTTP 200' }).count() > 0, 'a delivery is shown with its status');
    });

    await step('fits a 375 px screen, with every control named and all text in contrast', async () => {
      await page.setViewportSize({ width: 375, height: 740 });
      const views = [
        ['#/assets', 'asset-row'],
        [`#/assets/${videoId}`, 'technical-metadata'],
        ['#/operator', 'job-counts-table'],
      ];
      for (const [hash, shown] of views) {
        await page.evaluate((to) => {
          location.hash = to;
        }, hash);
        await byTestId(shown).first().waitFor(WAIT);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${hash} scrolls sideways by ${overflow} px`);
        const unnamed = await page.$$eval('input, select, button, video, progress', (controls) => controls
          .filter((control) => control.checkVisibility())
          .filter((control) => !(control.labels?.length || control.getAttribute('aria-label') || control.textContent.trim()))
          .map((control) => control.outerHTML));
        assert.deepEqual(unnamed, [], `${hash}: controls without a name`);
        const faint = await page.evaluate(lowContrastText);
        assert.deepEqual(faint, [], `${hash}: text below WCAG AA contrast`);
      }
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    await step('signs out', async () => {
      await byTestId('sign-out').click();
      await byTestId('sign-in-form').waitFor(WAIT);
      assert.equal(await byTestId('sign-in-notice').textContent(), 'You signed out.');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('assetd.apiKey')), null);
      assert.ok(await byTestId('assets-view').isHidden());
    });

    // Run even after a failed step: what was asked so far must still hold.
    await t.test('asks nothing of any other origin, and breaks no rule of its CSP', async () => {
      assert.ok(requested.length > 0);
      t.diagnostic(`${requested.length} requests from the page`);
      // data: (the empty icon) is no host; blob: URLs carry the page's own origin.
      const elsewhere = requested.filter((url) => !url.startsWith('data:') && new URL(url).origin !== serverOrigin);
      assert.deepEqual(elsewhere, []);
      assert.deepEqual(problems, []);
    });
  } finally {
    for (const cleanupStep of cleanup.reverse()) await cleanupStep().catch(() => {});
  }
});
