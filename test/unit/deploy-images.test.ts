// Dockerfile and Dockerfile.cuda, read as text (no Docker engine is needed): multi-stage, the
// runtime stage installs production dependencies only, runs as a non-root user, and starts
// `node dist/cli/main.js`; the CUDA image installs onnxruntime's CUDA provider on a CUDA 12 +
// cuDNN 9 runtime base; the dist/ folders the runtime copies hold everything `gptoss` imports,
// and every package they import is a production dependency.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { dockerInstructions } from '../helpers/k8s-validate.js';

type Instruction = ReturnType<typeof dockerInstructions>[number];

function stageOf(instructions: Instruction[], stage: string): Instruction[] {
  return instructions.filter((i) => i.stage === stage);
}

function args(instructions: Instruction[], kind: string): string[] {
  return instructions.filter((i) => i.instruction === kind).map((i) => i.args);
}

/** Files reached from `entry` through static and literal dynamic imports; bare specifiers apart. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const src = readFileSync(file, 'utf8');
    // tsc prints each import/export declaration on one line; dynamic imports with a literal anywhere.
    const specs = [
      ...src.matchAll(/^\s*(?:import|export)\b[^'"\n;]*?\bfrom\s*['"]([^'"]+)['"]/gm),
      ...src.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
      ...src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ];
    for (const m of specs) {
      const spec = m[1]!;
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files, packages };
}

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

for (const file of ['Dockerfile', 'Dockerfile.cuda']) {
  describe(`deploy image: ${file}`, () => {
    const all = dockerInstructions(path.join(REPO_ROOT, file));
    const stages = [...new Set(all.map((i) => i.stage))];
    const runtime = stageOf(all, stages[stages.length - 1]!);
    const build = stageOf(all, 'build');

    it('is multi-stage: a build stage with dev dependencies and `npm run build`, then a runtime stage', () => {
      assert.equal(stages[stages.length - 1], 'runtime');
      assert.ok(build.length > 0, 'no stage named build');
      const buildRuns = args(build, 'RUN');
      assert.ok(buildRuns.some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev')), 'the build stage installs every dependency');
      assert.ok(buildRuns.some((r) => /\bnpm run build\b/.test(r)));
    });

    it('the runtime stage: `npm ci --omit=dev`, dist/ from the build stage, proto/, package.json', () => {
      const runs = args(runtime, 'RUN');
      assert.ok(runs.some((r) => /\bnpm ci --omit=dev\b/.test(r)));
      const copies = args(runtime, 'COPY');
      assert.ok(copies.some((c) => c.startsWith('--from=build /app/dist/cli ')));
      assert.ok(copies.includes('proto proto'));
      assert.ok(copies.some((c) => /^package\.json package-lock\.json/.test(c)));
      assert.ok(!runs.some((r) => /\bnpm run build\b/.test(r)), 'the runtime stage does not compile');
    });

    it('runs as a non-root numeric user and starts `node dist/cli/main.js` (coordinator or worker by argument)', () => {
      const users = args(runtime, 'USER');
      assert.equal(users.length, 1);
      const [uid, gid] = users[0]!.split(':').map(Number);
      assert.ok(Number.isInteger(uid) && uid! > 0 && Number.isInteger(gid) && gid! > 0, `USER ${users[0]}`);
      assert.ok(runtime.findIndex((i) => i.instruction === 'USER') > runtime.findLastIndex((i) => i.instruction === 'RUN'), 'USER comes after the last RUN');
      assert.deepEqual(JSON.parse(args(runtime, 'ENTRYPOINT')[0]!), ['node', 'dist/cli/main.js']);
      assert.ok(args(runtime, 'RUN').some((r) => r.includes(`--uid ${uid}`)), 'the user exists in the image');
    });

    if (file === 'Dockerfile') {
      it('installs the CPU onnxruntime: every `npm ci` skips the install script\'s CUDA download, whatever the npm version', () => {
        const installs = args(all, 'RUN').filter((r) => /\bnpm ci\b/.test(r));
        assert.equal(installs.length, 2);
        for (const r of installs) assert.match(r, /\bONNXRUNTIME_NODE_INSTALL=skip npm ci\b/);
        assert.ok(!all.some((i) => i.args.includes('cuda12')));
      });
    } else {
      it('installs onnxruntime\'s CUDA 12 provider at build time, on an nvidia/cuda 12.x cuDNN 9 runtime base', () => {
        const from = args(runtime, 'FROM')[0]!;
        assert.match(from, /^\$\{CUDA_IMAGE\} AS runtime$/);
        const arg = args(all, 'ARG').find((a) => a.startsWith('CUDA_IMAGE='))!;
        // nvidia/cuda's "-cudnn-" tags carry cuDNN 9 from CUDA 12.4 on.
        const m = /^CUDA_IMAGE=nvidia\/cuda:12\.([0-9]+)\.[0-9]+-cudnn-runtime-ubuntu[0-9.]+$/.exec(arg);
        assert.ok(m && Number(m[1]) >= 4, arg);
        const install = args(runtime, 'RUN').find((r) => r.includes('npm ci --omit=dev'))!;
        // npm ci never runs the download (package.json denies it; the variable covers npm 10, which
        // ignores allowScripts); the script is then run on purpose for CUDA 12.
        assert.match(install, /\bONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev\b.*&& ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\b/s);
        assert.doesNotMatch(install, /--onnxruntime-node-install/);
        assert.match(install, /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/);
        assert.ok(args(runtime, 'COPY').some((c) => c === '--from=node /usr/local/bin/node /usr/local/bin/node'));
      });
    }

    it('copies only what exists and what .dockerignore lets through', () => {
      const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      for (const must of ['node_modules', 'dist', '.git', '.tmp']) assert.ok(ignored.includes(must), `.dockerignore lacks ${must}`);
      for (const c of args(all, 'COPY').filter((c) => !c.startsWith('--from'))) {
        const sources = c.split(' ').slice(0, -1);
        for (const s of sources) {
          if (s === '.') continue;
          assert.ok(existsSync(path.join(REPO_ROOT, s)), `COPY ${s}: not in the repository`);
          assert.ok(!ignored.includes(s), `COPY ${s}: excluded by .dockerignore`);
        }
      }
    });

    it('the dist/ folders the runtime copies hold every file `gptoss` imports; every package imported is a production dependency', () => {
      const copied = args(runtime, 'COPY')
        .filter((c) => c.startsWith('--from=build /app/dist/'))
        .map((c) => c.split(' ')[1]!.slice('/app/'.length));
      const { files, packages } = importGraph(path.join(REPO_ROOT, 'dist', 'cli', 'main.js'));
      for (const f of files) {
        const rel = path.relative(REPO_ROOT, f);
        assert.ok(copied.some((d) => rel.startsWith(d + path.sep)), `${rel} is imported but not copied into the image`);
        assert.ok(existsSync(f), `${rel} does not exist`);
      }
      for (const p of packages) assert.ok(p in pkg.dependencies, `${p} is imported at run time but is not in dependencies (npm ci --omit=dev leaves it out)`);
      assert.ok(files.size > 20 && packages.has('onnxruntime-node'));
    });
  });
}

describe('npm configuration', () => {
  it('npm config - the project config holds only keys npm knows: `npm config` prints no warning', () => {
    const npmrc = path.join(REPO_ROOT, '.npmrc');
    if (existsSync(npmrc)) {
      const keys = readFileSync(npmrc, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith(';')).map((l) => l.split('=')[0]!.trim());
      const known = spawnSync('npm', ['config', 'ls', '--long', '--json'], { cwd: os.tmpdir(), encoding: 'utf8' });
      const defaults = Object.keys(JSON.parse(known.stdout) as Record<string, unknown>);
      for (const k of keys) assert.ok(defaults.includes(k), `.npmrc: "${k}" is not an npm setting`);
    }
    const r = spawnSync('npm', ['config', 'get', 'registry'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warn/i);
  });

  it('npm config - package.json denies onnxruntime-node\'s install script (its CUDA download) and approves the rest', () => {
    const allow = (pkg as { allowScripts?: Record<string, boolean> }).allowScripts ?? {};
    assert.equal(allow['onnxruntime-node'], false);
    const r = spawnSync('npm', ['install-scripts', 'ls'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /not yet covered/, 'every dependency install script is approved or denied');
  });
});
