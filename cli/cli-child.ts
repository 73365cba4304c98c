// What the local cluster's child processes (workers, coordinators) share: each is this package's
// own CLI spawned with a log level, announces itself with one JSON control line on stdout, keeps
// its recent stderr for error messages, is stopped by a signal then SIGKILL, and is killed if this
// process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { withHugePages } from './huge-pages.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface CliChildOptions {
  readonly logLevel?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Spawns `gptoss <args>` and resolves with what `ready` makes of the first control line it
 * accepts; rejects, with the child's recent stderr, if the child exits first.
 */
export function startCliChild<T>(args: readonly string[], o: CliChildOptions, name: string, ready: (msg: Record<string, unknown>, child: ChildProcess) => T | undefined): Promise<T> {
  // Started with the huge-page setting, so a child never re-executes itself (a signal reaches it directly).
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: withHugePages({ ...process.env, LOG_LEVEL: o.logLevel ?? 'warn', ...o.env }) });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8192);
    if (o.logLevel && o.logLevel !== 'silent') process.stderr.write(d);
  });
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return; // not a control line
      }
      const value = msg !== null && typeof msg === 'object' ? ready(msg as Record<string, unknown>, child) : undefined;
      if (value !== undefined) resolve(value);
    });
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${stderr}`)));
    child.once('error', reject);
  });
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal`, then SIGKILL after graceMs; resolves once the child is gone. */
export async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (hasExited(child)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}
