// No secret is ever printed: a coordinator and a worker run with an API key, a cluster token and
// a Redis password at debug level, serve an authenticated request, and their whole output is
// searched for the secrets.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { NatsServer } from '../helpers/nats-server.js';
import { CLI } from '../helpers/paths.js';
import { tinyModel } from '../helpers/tiny-model.js';

const API_KEY = 'sk-secret-api-key-3f9a';
const CLUSTER_TOKEN = 'cluster-secret-token-77c1';
const REDIS_PASSWORD = 'redis-secret-password-91b2';

function run(args: string[], env: Record<string, string>, readyEvent: string): { child: ChildProcess; output: () => string; ready: Promise<{ url?: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'debug', ...env } });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const ready = new Promise<{ url?: string }>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      output += line + '\n';
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event === readyEvent) resolve(msg);
      } catch {
        // a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}):\n${output}`)));
  });
  return { child, output: () => output, ready };
}

describe('security: secrets stay out of the logs', () => {
  let nats: NatsServer;
  const children: ChildProcess[] = [];
  before(async () => {
    nats = await NatsServer.start();
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await nats?.stop();
  });

  it('security - API keys, the cluster token and the Redis password never appear in any output', async () => {
    const model = await tinyModel({ vocab: 201088, seed: 41 });
    const env = { GPTOSS_API_KEYS: API_KEY, GPTOSS_CLUSTER_TOKEN: CLUSTER_TOKEN };
    const worker = run(['worker', '--model', model, '--listen', '127.0.0.1:0', '--nats', nats.url, '--threads', '1'], env, 'worker-ready');
    children.push(worker.child);
    // An unreachable Redis with a password in its URL: the store logs its outage, never the URL's secret.
    const coordinator = run(
      ['coordinator', '--model', model, '--nats', nats.url, '--redis', `redis://:${REDIS_PASSWORD}@127.0.0.1:1`, '--host', '127.0.0.1', '--port', '0', '--threads', '1'],
      env,
      'coordinator-ready',
    );
    children.push(coordinator.child);
    await worker.ready;
    const { url } = await coordinator.ready;
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await fetch(`${url}/health`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: [1, 2, 3], max_tokens: 3 }),
    });
    assert.equal(res.status, 200);
    const denied = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(denied.status, 401);
    await new Promise((r) => setTimeout(r, 300));
    const logs = worker.output() + coordinator.output();
    assert.ok(logs.length > 500, 'the processes logged at debug level');
    for (const secret of [API_KEY, CLUSTER_TOKEN, REDIS_PASSWORD]) assert.equal(logs.includes(secret), false, `${secret} appears in the logs`);
  });
});
