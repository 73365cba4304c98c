// The `gptoss` command as a user meets it: help for every command from its flag definitions, exit
// codes, and `start` refusing a busy port before loading anything.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { CLI } from '../helpers/paths.js';

function gptoss(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env: { ...process.env, NATS_URL: 'nats://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('gptoss command', () => {
  it('cli - `gptoss help`, `-h` and no command list the commands and exit 0; an unknown one exits 2', async () => {
    for (const args of [['help'], ['-h']]) {
      const r = await gptoss(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /commands:[\s\S]*start[\s\S]*make-checkpoint/);
    }
    const bad = await gptoss(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command "frobnicate"/);
  });

  it('cli - `<command> --help` / `-h` print that command\'s flags with descriptions and defaults', async () => {
    const start = await gptoss(['start', '--help']);
    assert.equal(start.code, 0);
    assert.match(start.stdout, /^usage: gptoss start \[flags\]/);
    assert.match(start.stdout, /--workers <int>\s+expert worker processes \(default 2\) \(at least 1\)/);
    assert.match(start.stdout, /--port <int>\s+HTTP port of the \(first\) coordinator \(default 8000\)/);
    const generate = await gptoss(['generate', '-h', '--not-a-flag']);
    assert.equal(generate.code, 0);
    assert.match(generate.stdout, /--expert-precision <fp32\|q4x2\|mxfp4>/);
    assert.match(start.stdout, /--expert-precision <fp32\|q4x2\|mxfp4>/);
    assert.match(generate.stdout, /--json\s+print one JSON object/);
    for (const command of ['coordinator', 'worker']) {
      const r = await gptoss([command, '--help']);
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, new RegExp(`usage: gptoss ${command}[\\s\\S]*--help, -h`));
    }
    assert.match((await gptoss(['help', 'make-checkpoint'])).stdout, /usage: gptoss make-checkpoint[\s\S]*--out <text>/);
  });

  it('cli - the retired expert precision q8 is refused, naming q4x2, by every command that took it', async () => {
    for (const args of [['generate', '--model', 'M', '--prompt-ids', '1'], ['worker', '--model', 'M'], ['start']]) {
      const r = await gptoss([...args, '--expert-precision', 'q8']);
      assert.equal(r.code, 1, args[0]);
      assert.equal(r.stderr.trim(), 'gptoss: --expert-precision q8 was retired: use q4x2 (the same weights exactly, the same 9 bits per parameter, and far faster on CPU)', args[0]);
    }
  });

  it('cli - `start` on a busy port names the port and exits at once', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await gptoss(['start', '--port', String(port)], 20_000);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `gptoss: port ${port} is already in use; stop what is listening there or choose another port with --port`);
    } finally {
      blocker.close();
    }
  });
});
