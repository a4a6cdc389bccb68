// The official TwelveLabs JS SDK (twelvelabs-js 1.3.4), unchanged, against the
// real server binary: what its encodings look like on the wire (user metadata
// as one JSON string in a list query, ranges as duration[gte]) is what assetd
// must read. The JS client ignores a baseUrl option and reads only
// TWELVELABS_BASE_URL, so that is how it is pointed at the server.
//
//   npm ci --prefix tests/js-sdk && ASSETD_BIN=target/release/assetd node --test tests/js-sdk/

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { TwelveLabs } from 'twelvelabs-js';

import { startServer } from '../node-shared/assetd-server.mjs';

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

test('user metadata and indexed-asset filters through the JS SDK', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'assetd-js-sdk-'));
  const key = `tlk_js_${randomUUID().replaceAll('-', '')}`;
  const server = await startServer(path.join(work, 'data'), key);
  try {
    process.env.TWELVELABS_BASE_URL = `${server.base}/v1.3`;
    const client = new TwelveLabs({ apiKey: key });
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
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
});
