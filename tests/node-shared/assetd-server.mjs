// Starts the real assetd binary for the Node test suites (the browser test
// and the JS SDK test): ASSETD_BIN or target/release/assetd, on port 0, with
// its own data dir and key. TEST_LOG=1 shows its logs.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.resolve(process.env.ASSETD_BIN ?? path.join(root, 'target/release/assetd'));
export const verbose = Boolean(process.env.TEST_LOG);

/** Starts assetd on port 0; resolves with its base URL once it prints `listening on`. */
export async function startServer(dataDir, key, env = {}) {
  const child = spawn(bin, ['serve', '--bind', '127.0.0.1:0'], {
    env: { ...process.env, ...env, ASSETD_DATA_DIR: dataDir, ASSETD_API_KEY: key },
    stdio: ['ignore', 'pipe', verbose ? 'inherit' : 'ignore'],
  });
  // A test runner that dies must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
  };
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    const fail = (error) => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error('assetd did not start within 30 s')), 30_000);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`assetd exited (${code}) before listening`)));
    lines.once('line', (line) => {
      const match = /^listening on (http:\/\/\S+)$/.exec(line);
      match ? resolve(match[1]) : fail(new Error(`unexpected first line: ${line}`));
      clearTimeout(timer);
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { base, stop };
}

