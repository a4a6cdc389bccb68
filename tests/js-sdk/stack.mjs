// The storage stack a test server runs on, as the Rust and Python suites
// choose it: the embedded default (SQLite and the data dir), or with
// ASSETD_TEST_POSTGRES_URL a database of its own on that PostgreSQL server and
// with ASSETD_TEST_STORAGE=s3 a bucket of its own on ASSETD_TEST_S3_URL (the
// test S3 server checks signatures, so requests to it are signed with the
// AWS_* key that the test command set, by aws4).

import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import aws4 from 'aws4';

const postgres = process.env.ASSETD_TEST_POSTGRES_URL;
const s3 = process.env.ASSETD_TEST_STORAGE === 's3' ? process.env.ASSETD_TEST_S3_URL : undefined;

/** A request to the test S3 server, signed. */
async function s3Request(method, path) {
  const url = new URL(path, s3);
  const signed = aws4.sign(
    { host: url.host, path: url.pathname, method, service: 's3', region: 'us-east-1' },
    { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
  );
  const response = await fetch(url, { method, headers: signed.headers });
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return response;
}

/** The environment of a server on this stack: its database and bucket, made for it. */
export async function stackEnv() {
  const env = {};
  if (postgres) {
    // assetd creates the database on first start.
    env.ASSETD_DATABASE_URL = `${postgres.replace(/\/$/, '')}/js_${randomUUID().replaceAll('-', '')}`;
  }
  if (s3) {
    const bucket = `js-${randomUUID()}`;
    await s3Request('PUT', `/${bucket}`);
    Object.assign(env, {
      ASSETD_STORAGE: 's3',
      ASSETD_S3_BUCKET: bucket,
      ASSETD_S3_ENDPOINT: s3,
      ASSETD_S3_FORCE_PATH_STYLE: 'true',
    });
  }
  return env;
}

/** The bytes of an asset's original where the server keeps it: the bucket on
 * S3, else the data dir. */
export async function storedOriginal(env, dataDir, assetId) {
  if (env.ASSETD_STORAGE === 's3') {
    const response = await s3Request('GET', `/${env.ASSETD_S3_BUCKET}/assets/${assetId}/original`);
    return Buffer.from(await response.arrayBuffer());
  }
  return readFile(path.join(dataDir, 'assets', assetId.slice(30), assetId, 'original'));
}
