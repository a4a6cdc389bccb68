// The official TwelveLabs JS SDK (twelvelabs-js 1.3.4), unchanged, against the
// real server binary: what its encodings look like on the wire (user metadata
// as one JSON string in a list query, ranges as duration[gte]) is what assetd
// must read. The JS client ignores a baseUrl option and reads only
// TWELVELABS_BASE_URL, so that is how it is pointed at the server.
//
//   npm ci --prefix tests/js-sdk && ASSETD_BIN=target/release/assetd node --test tests/js-sdk/
// On PostgreSQL and S3: with ASSETD_TEST_POSTGRES_URL and ASSETD_TEST_STORAGE=s3 (stack.mjs).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { TwelveLabs, TwelvelabsApi } from 'twelvelabs-js';

import { startServer } from '../node-shared/assetd-server.mjs';
import { stackEnv, storedOriginal } from './stack.mjs';

async function makeClip(file) {
  await promisify(execFile)('ffmpeg', [
    '-y', '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc=duration=2:size=160x120:rate=25',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', file,
  ]);
}

/** Every item of an SDK pager. */
async function all(pager) {
  const items = [];
  for await (const item of await pager) items.push(item);
  return items;
}

/**
 * Runs `body` against a server of its own on this stack (with `extraEnv`),
 * with the SDK's client pointed at it; stops the server and removes its
 * files after.
 */
async function withServer(extraEnv, body) {
  const work = await mkdtemp(path.join(tmpdir(), 'assetd-js-sdk-'));
  const key = `tlk_js_${randomUUID().replaceAll('-', '')}`;
  const env = { ...(await stackEnv()), ...extraEnv };
  const dataDir = path.join(work, 'data');
  const server = await startServer(dataDir, key, env);
  try {
    process.env.TWELVELABS_BASE_URL = `${server.base}/v1.3`;
    await body({ client: new TwelveLabs({ apiKey: key }), server, key, work, env, dataDir });
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

test('user metadata and indexed-asset filters through the JS SDK', () =>
  withServer({}, async ({ client, work }) => {
    const clip = path.join(work, 'clip.mp4');
    await makeClip(clip);

    const asset = await client.assets.create({ method: 'direct', file: createReadStream(clip) });
    assert.equal(asset.status, 'ready', JSON.stringify(asset));

    await client.assets.replaceUserMetadata(asset.id, { userMetadata: { camera: 'a7', skip: '' } });
    await client.assets.updateUserMetadata(asset.id, { userMetadata: { take: 3 } });
    assert.deepEqual((await client.assets.retrieve(asset.id)).userMetadata, { camera: 'a7', take: 3 });
    await client.assets.deleteUserMetadata(asset.id);
    assert.equal((await client.assets.retrieve(asset.id)).userMetadata, undefined);

    const index = await client.indexes.create({
      indexName: 'js-sdk',
      models: [{ modelName: 'marengo3.0', modelOptions: ['visual'] }],
    });
    const indexed = await client.indexes.indexedAssets.create(index.id, {
      assetId: asset.id,
      userMetadata: { camera: 'a7', take: 3, hd: true },
    });
    const ids = async (request) =>
      (await all(client.indexes.indexedAssets.list(index.id, request))).map((item) => item.id);

    assert.deepEqual(await ids({ userMetadata: { take: 3, hd: true } }), [indexed.id]);
    assert.deepEqual(await ids({ userMetadata: { take: 4 } }), []);
    assert.deepEqual(await ids({ duration: { gte: 1, lte: 10 }, status: ['ready', 'failed'] }), [indexed.id]);
    assert.deepEqual(await ids({ width: { gte: 161 } }), []);
    assert.deepEqual(await ids({ filename: 'CLIP' }), [indexed.id]);

    await client.indexes.indexedAssets.update(index.id, indexed.id, {
      userMetadata: { take: null, scene: 'b' },
    });
    const updated = await client.indexes.indexedAssets.retrieve(index.id, indexed.id);
    assert.deepEqual(updated.userMetadata, { camera: 'a7', hd: true, scene: 'b' });
  }));

const chunk = 5 * 1024 * 1024;

test('uploadFile: the multipart helper, unchanged, makes a ready asset of several chunks', () =>
  withServer({ ASSETD_MULTIPART_CHUNK_BYTES: String(chunk) }, async ({ client, work, env, dataDir }) => {
    const video = path.join(work, 'several-chunks.mp4');
    await promisify(execFile)('ffmpeg', [
      '-y', '-hide_banner', '-loglevel', 'error',
      '-f', 'lavfi', '-i', 'testsrc2=duration=6:size=640x360:rate=30,noise=alls=60:allf=t',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '20M', '-pix_fmt', 'yuv420p', video,
    ]);
    const size = statSync(video).size;
    assert.ok(size > 2 * chunk, `${size} bytes: several chunks`);

    const result = await client.multipartUpload.uploadFile(video, { fileType: 'video' });
    assert.ok(result.assetId, JSON.stringify(result));
    const deadline = Date.now() + 60_000;
    let asset;
    for (;;) {
      asset = await client.assets.retrieve(result.assetId);
      if (asset.status !== 'processing') break;
      assert.ok(Date.now() < deadline, `still processing: ${JSON.stringify(asset)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(asset.status, 'ready', JSON.stringify(asset));
    assert.equal(asset.method, 'multipart');
    assert.equal(asset.size, size);
    const original = await storedOriginal(env, dataDir, result.assetId);
    const digest = (bytes) => createHash('sha256').update(bytes).digest('hex');
    assert.equal(digest(original), digest(readFileSync(video)), 'the assembled file is the file');
  }));

test('lists through the JS SDK: its pager, kinds and filename filters, and delete refused while indexed', () =>
  withServer({}, async ({ client, server, key, work }) => {
    const image = path.join(work, 'still.png');
    await promisify(execFile)('ffmpeg', [
      '-y', '-hide_banner', '-loglevel', 'error',
      '-f', 'lavfi', '-i', 'testsrc=size=64x48', '-frames:v', '1', image,
    ]);
    const clip = path.join(work, 'clip.mp4');
    await makeClip(clip);

    // Oldest first: three stills, then two clips, each named on upload.
    const made = [];
    for (const [file, filename] of [
      [image, 'Drone-1.png'], [image, 'drone-2.png'], [image, '100%_still.png'],
      [clip, 'Interview-a.mp4'], [clip, 'interview-DRONE-b.mp4'],
    ]) {
      const asset = await client.assets.create({ method: 'direct', file: createReadStream(file), filename });
      assert.equal(asset.status, 'ready', JSON.stringify(asset));
      made.push(asset.id);
    }
    const newestFirst = [...made].reverse();
    const ids = async (request) => (await all(client.assets.list(request))).map((item) => item.id);

    // The SDK's pager asks for the next page until one comes back empty:
    // pages of two cover every asset once, newest first.
    assert.deepEqual(await ids({ pageLimit: 2 }), newestFirst);
    assert.deepEqual(await ids({ pageLimit: 2, assetTypes: ['image'] }), newestFirst.slice(2));
    assert.deepEqual(await ids({ assetTypes: ['video', 'image'] }), newestFirst);
    assert.deepEqual(await ids({ assetTypes: 'video' }), newestFirst.slice(0, 2));
    // Case-insensitive substrings; `%` and `_` are themselves.
    assert.deepEqual(await ids({ filename: 'DRONE-' }), [made[4], made[1], made[0]]);
    assert.deepEqual(await ids({ filename: 'drone-', assetTypes: ['video'] }), [made[4]]);
    assert.deepEqual(await ids({ filename: '0%_s' }), [made[2]]);
    assert.deepEqual(await ids({ filename: '%' }), [made[2]]);
    assert.deepEqual(await ids({ filename: 'drone_' }), []);
    assert.deepEqual(await ids({ assetIds: [made[0], made[3]], pageLimit: 1 }), [made[3], made[0]]);

    // The totals the pager does not show, as the server sends them.
    const response = await fetch(`${server.base}/v1.3/assets?page_limit=2&page=2&filename=drone-`, {
      headers: { 'x-api-key': key },
    });
    const body = await response.json();
    assert.deepEqual(body.page_info, { page: 2, limit_per_page: 2, total_page: 2, total_results: 3 });
    assert.deepEqual(body.data.map((item) => item._id), [made[0]]);

    // An asset an index refers to is kept (409) until the reference goes or
    // the delete is forced; then it is gone (404), and so is it from lists.
    const index = await client.indexes.create({
      indexName: 'js-sdk-lists',
      models: [{ modelName: 'marengo3.0', modelOptions: ['visual'] }],
    });
    await client.indexes.indexedAssets.create(index.id, { assetId: made[3] });
    await assert.rejects(client.assets.delete(made[3]), (error) => {
      assert.ok(error instanceof TwelvelabsApi.ConflictError, String(error));
      assert.equal(error.statusCode, 409);
      assert.equal(typeof error.body.message, 'string');
      return true;
    });
    assert.equal((await client.assets.retrieve(made[3])).id, made[3]);
    await client.assets.delete(made[3], { force: true });
    await assert.rejects(client.assets.retrieve(made[3]), (error) => {
      assert.ok(error instanceof TwelvelabsApi.NotFoundError, String(error));
      return true;
    });
    assert.deepEqual(await ids({ filename: 'interview-' }), [made[4]]);
    assert.deepEqual(await ids({ pageLimit: 50 }), newestFirst.filter((id) => id !== made[3]));
  }));
