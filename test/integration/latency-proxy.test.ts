// The latency proxy used to measure a local cluster as if its workers sat on other machines: it
// must carry every byte intact and in order in both directions, pass a close through, and refuse
// bad arguments with a message naming the flag. (How long it delays is measured by the overlap
// bench, not asserted here.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LatencyProxyProcess } from '../../common/local/latency-proxy-process.js';

const PROXY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'common', 'local', 'latency-proxy.js');

describe('latency proxy', () => {
  let echo: net.Server;
  let target: string;
  before(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    target = `127.0.0.1:${(echo.address() as net.AddressInfo).port}`;
  });
  after(() => echo.close());

  for (const delayMs of [0, 0.5]) {
    it(`latency proxy - ${delayMs} ms: 4 MiB written in uneven chunks come back intact and in order`, async () => {
      const proxy = await LatencyProxyProcess.start(target, delayMs);
      try {
        const socket = net.connect(proxy.port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        const sent = randomBytes(4 * 2 ** 20);
        const received: Buffer[] = [];
        let length = 0;
        const done = new Promise<void>((resolve) =>
          socket.on('data', (d: Buffer) => {
            received.push(d);
            length += d.length;
            if (length >= sent.length) resolve();
          }),
        );
        for (let at = 0, i = 0; at < sent.length; i++) {
          const n = Math.min(sent.length - at, 1 + ((i * 7919) % 65536));
          socket.write(sent.subarray(at, at + n));
          at += n;
        }
        await done;
        assert.ok(Buffer.concat(received).equals(sent), 'the echoed bytes equal the sent bytes');
        const closed = new Promise((resolve) => socket.once('close', resolve));
        socket.end();
        await closed;
      } finally {
        await proxy.stop();
      }
    });
  }

  it('latency proxy - 5 ms: a half-close arrives after every byte sent before it, in both directions', async () => {
    // The target answers only once the client's end has reached it: with everything it received.
    const collector = net.createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => s.end(Buffer.concat(got)));
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const proxy = await LatencyProxyProcess.start(`127.0.0.1:${(collector.address() as net.AddressInfo).port}`, 5);
    try {
      const socket = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
      await new Promise((resolve) => socket.once('connect', resolve));
      const sent = randomBytes(100_000);
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      const ended = new Promise((resolve) => socket.once('end', resolve));
      socket.end(sent);
      await ended;
      assert.equal(Buffer.concat(received).length, sent.length, 'bytes that came back before the end');
      assert.ok(Buffer.concat(received).equals(sent));
      socket.destroy();
    } finally {
      await proxy.stop();
      collector.close();
    }
  });

  it('latency proxy - refuses bad arguments, naming the flag', () => {
    for (const [args, flag] of [
      [['--listen', '0', '--target', target, '--delay-ms', '1'], '--listen'],
      [['--listen', '9', '--target', 'nohost', '--delay-ms', '1'], '--target'],
      [['--listen', '9', '--target', target, '--delay-ms', '-1'], '--delay-ms'],
      [['--listen', '9', '--target', target], '--delay-ms'],
    ] as const) {
      const r = spawnSync(process.execPath, [PROXY, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(flag));
    }
  });
});
