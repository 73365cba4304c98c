// Regenerates cuda-kernel-list.ts from onnxruntime's docs/OperatorKernels.md at a release tag:
//   git -C onnxruntime show v1.30.0:docs/OperatorKernels.md > OperatorKernels.md
//   npm run build && node dist/common/onnx/generate-cuda-kernel-list.js OperatorKernels.md \
//     --commit $(git -C onnxruntime rev-parse v1.30.0) --release 1.30.0 [--note TEXT]
// then review the diff of common/onnx/cuda-kernel-list.ts and run the coverage test.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCudaKernels, renderCudaKernelList } from './cuda-kernel-markdown.js';

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

const argv = process.argv.slice(2);
const markdownPath = argv[0];
const commit = flag(argv, 'commit');
const release = flag(argv, 'release');
if (!markdownPath || !commit || !/^[0-9a-f]{40}$/.test(commit) || !release) {
  process.stderr.write('usage: generate-cuda-kernel-list OperatorKernels.md --commit SHA40 --release X.Y.Z [--note TEXT]\n');
  process.exit(2);
}
const domains = parseCudaKernels(readFileSync(markdownPath, 'utf8'));
const source = { repository: 'microsoft/onnxruntime', path: 'docs/OperatorKernels.md', commit, release, note: flag(argv, 'note') ?? '' };
// Written into the source tree (common/onnx), next to this script's source.
const target = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'common', 'onnx', 'cuda-kernel-list.ts');
writeFileSync(target, renderCudaKernelList(source, domains));
const ops = Object.entries(domains).map(([d, o]) => `${d}: ${Object.keys(o).length} ops`).join(', ');
process.stdout.write(`wrote ${path.relative(process.cwd(), target)} (${ops})\n`);
