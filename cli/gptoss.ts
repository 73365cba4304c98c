// `gptoss <command> [flags]`: builds objects from flags and the environment, nothing else. Run by
// main.ts, in the process that carries glibc's huge-page setting (huge-pages.ts).
import { HelpRequested, usage } from '../common/config/flags.js';
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

const HELP = ['help', '--help', '-h'];

function commandList(): string {
  const list = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(16)} ${v.summary}`).join('\n');
  return `usage: gptoss <command> [flags]\n\ncommands:\n${list}\n\n'gptoss <command> --help' lists a command's flags.\n`;
}

async function main(): Promise<void> {
  let [command, ...rest] = process.argv.slice(2);
  // `gptoss help start` is `gptoss start --help`.
  if (command === 'help' && rest[0] !== undefined && COMMANDS[rest[0]]) [command, rest] = [rest[0], ['--help']];
  const entry = command ? COMMANDS[command] : undefined;
  if (!entry) {
    const asked = command === undefined || HELP.includes(command);
    (asked ? process.stdout : process.stderr).write(asked ? commandList() : `gptoss: unknown command "${command}"\n\n${commandList()}`);
    process.exitCode = asked ? 0 : 2;
    return;
  }
  try {
    await entry.run(rest);
  } catch (err) {
    if (!(err instanceof HelpRequested)) throw err;
    process.stdout.write(usage(command!, err.specs, entry.summary));
  }
}

main().catch((err: unknown) => {
  if (err instanceof GptOssError || err instanceof RangeError) {
    process.stderr.write(`gptoss: ${err.message}\n`);
  } else {
    process.stderr.write(`gptoss: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
