// Loads xgrammar's WebAssembly build (@mlc-ai/web-xgrammar). Its lib/index.js is a UMD bundle in
// a package marked "type": "module", and its Node path calls `require` and reads `__filename`,
// neither of which exists in an ES module, so `import` fails under Node 20 ("require is not
// defined in ES module scope"). It is evaluated here as the CommonJS script it is, with a real
// require. It is also given its own console: xgrammar reports why it rejects a schema only as a
// "[FATAL] file:line: reason" line on stderr before aborting with a bare "Aborted()", so that line
// is captured to become the 400's message.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type XGrammarModule = typeof XGrammar;

let loaded: XGrammarModule | null = null;
let lastFatal: string | null = null;

/** The module; `fresh` evaluates a new instance (a new WebAssembly memory), for when a trap left
 *  the old one unusable. */
export function xgrammar(fresh = false): XGrammarModule {
  if (loaded && !fresh) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  const source = readFileSync(file, 'utf8');
  const module = { exports: {} as Record<string, unknown> };
  const quietConsole = {
    ...console,
    error: (...args: unknown[]) => {
      const line = args.map(String).join(' ');
      const fatal = /\[FATAL\][^:]*:\d+:\s*(.*)$/s.exec(line);
      if (fatal) lastFatal = fatal[1]!.trim();
      // "Aborted()" and the FATAL line are the rejection being reported; nothing else is expected.
      else if (!line.startsWith('Aborted(')) console.error(...args);
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- evaluating the vendored bundle is the point
  const run = new Function('exports', 'module', 'require', '__filename', '__dirname', 'console', source) as (...a: unknown[]) => void;
  run(module.exports, module, require, file, path.dirname(file), quietConsole);
  loaded = module.exports as unknown as XGrammarModule;
  return loaded;
}

/** Runs an xgrammar call; a rejection carries xgrammar's own reason instead of "Aborted()". */
export async function withXGrammarReason<T>(call: () => Promise<T>): Promise<T> {
  lastFatal = null;
  try {
    return await call();
  } catch (err) {
    const fatal = lastFatal;
    lastFatal = null;
    const message = err instanceof Error ? err.message : String(err);
    // Without xgrammar's own [FATAL] check, a failure is a WebAssembly trap (a deep schema
    // overflowing its stack), which can leave the instance's memory corrupt.
    throw new XGrammarRejection(fatal ?? message, fatal === null && TRAP.test(message));
  }
}

const TRAP = /memory access out of bounds|unreachable|call stack|out of memory/i;

export class XGrammarRejection extends Error {
  override readonly name = 'XGrammarRejection';
  /** `trapped`: the instance may be unusable and should be replaced. */
  constructor(
    message: string,
    readonly trapped = false,
  ) {
    super(message);
  }
}
