#!/usr/bin/env node
// `gptoss <command> [flags]`: builds objects from flags and the environment, nothing else.
import { GptOssError } from '../common/errors.js';
import { runGenerate } from './commands/generate.js';
import { runMakeCheckpoint } from './commands/make-checkpoint.js';
import { runWorker } from './commands/worker.js';
import { runCoordinator } from './commands/coordinator.js';
import { runStart } from './commands/start.js';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<void> }> = {
  generate: { summary: 'generate tokens from a checkpoint (single process, or --workers N for a local cluster)', run: runGenerate },
  start: { summary: 'start a whole local cluster (nats, redis, coordinator, workers) serving the OpenAI API', run: runStart },
  coordinator: { summary: 'serve the OpenAI API, running the dense half and dispatching experts to workers', run: runCoordinator },
  worker: { summary: 'serve a subset of the experts over gRPC, joining the cluster through NATS', run: runWorker },
  'make-checkpoint': { summary: 'write a random gpt-oss checkpoint in Hugging Face layout', run: runMakeCheckpoint },
};

export function registerCommand(name: string, summary: string, run: (argv: string[]) => Promise<void>): void {
  COMMANDS[name] = { summary, run };
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const entry = command ? COMMANDS[command] : undefined;
  if (!entry) {
    const list = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(16)} ${v.summary}`).join('\n');
    process.stderr.write(`usage: gptoss <command> [flags]\n\ncommands:\n${list}\n`);
    process.exitCode = command && command !== '--help' ? 2 : 0;
    return;
  }
  await entry.run(rest);
}

main().catch((err: unknown) => {
  if (err instanceof GptOssError || err instanceof RangeError) {
    process.stderr.write(`gptoss: ${err.message}\n`);
  } else {
    process.stderr.write(`gptoss: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
