// Every graph the project builds runs on onnxruntime 1.30's CUDA provider: each node of each graph
// of the catalog (test/helpers/graph-catalog.ts) has a CUDA kernel for its op, opset and actual
// element types, and none is a shape computation the provider would hand to the CPU. Then the
// check itself: it reports what CUDA lacks (naming the node), refuses a node it cannot type, and
// OrtGraph.create with the cuda provider fails on such a graph before loading anything of CUDA.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { CudaKernelMissingError, OnnxModelError } from '../../common/errors.js';
import { uncoveredCudaNodes } from '../../common/onnx/cuda-coverage.js';
import { CUDA_KERNEL_LIST } from '../../common/onnx/cuda-kernel-list.js';
import { parseCudaKernels } from '../../common/onnx/cuda-kernel-markdown.js';
import { GraphBuilder, type OnnxDtype } from '../../common/onnx/graph-builder.js';
import { OrtGraph, sessionOptions } from '../../common/onnx/session.js';
import { GRAPH_CATALOG } from '../helpers/graph-catalog.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tinyModel } from '../helpers/tiny-model.js';

const SHIPPED_DIRS = ['common', 'coordinator', 'worker', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

function describeNodes(nodes: ReturnType<typeof uncoveredCudaNodes>): string {
  return nodes.map((n) => `${n.node} ${n.domain || 'ai.onnx'}.${n.opType}-${n.opset} [${n.inputTypes.join(', ')}] -> [${n.outputTypes.join(', ')}]: ${n.reason}`).join('\n');
}

/** A one-node graph: `op` over inputs of the given types. */
function oneNode(op: string, inputTypes: OnnxDtype[], outputType: OnnxDtype, domain = ''): GraphBuilder {
  const g = new GraphBuilder(`probe_${op}`);
  const ins = inputTypes.map((t, i) => g.input(`in${i}`, t, [2, 2]));
  g.node(op, ins, ['out'], {}, domain);
  g.output('out', outputType, [2, 2]);
  return g;
}

describe('CUDA coverage', () => {
  let ckpt: Checkpoint;
  before(async () => {
    ckpt = await Checkpoint.open(await tinyModel());
  });

  it(`cuda coverage - the kernel list is onnxruntime ${CUDA_KERNEL_LIST.source.release}'s, with its source named`, () => {
    const s = CUDA_KERNEL_LIST.source;
    assert.equal(s.repository, 'microsoft/onnxruntime');
    assert.equal(s.path, 'docs/OperatorKernels.md');
    assert.match(s.commit, /^[0-9a-f]{40}$/);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(s.release, pkg.dependencies['onnxruntime-node'], 'the list matches the onnxruntime-node the project installs');
    for (const [domain, op] of [['ai.onnx', 'Gemm'], ['ai.onnx', 'MatMul'], ['com.microsoft', 'MatMulNBits'], ['com.microsoft', 'GroupQueryAttention']]) {
      assert.ok(CUDA_KERNEL_LIST.domains[domain]?.[op!], `${domain}.${op}`);
    }
  });

  for (const entry of GRAPH_CATALOG) {
    it(`cuda coverage - ${entry.name}: every node has a CUDA kernel for its types`, async () => {
      const samples = await entry.samples(ckpt);
      assert.ok(samples.length > 0);
      for (const { label, built } of samples) {
        const uncovered = uncoveredCudaNodes(built);
        assert.deepEqual(uncovered, [], `${label}:\n${describeNodes(uncovered)}`);
      }
    });
  }

  it('cuda coverage - every shipped function that returns a BuiltModel is in the graph catalog', () => {
    const listed = new Set(GRAPH_CATALOG.flatMap((e) => e.builders));
    const found = new Map<string, string>();
    for (const file of SHIPPED_DIRS.flatMap((d) => sources(path.join(REPO_ROOT, d)))) {
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/export\s+function\s+(\w+)\s*\([^{]*?\)\s*:\s*BuiltModel(?:\[\])?\s*\{/g)) found.set(m[1]!, path.relative(REPO_ROOT, file));
      if (src.includes('new GraphBuilder(') && ![...src.matchAll(/export\s+function\s+(\w+)/g)].some((m) => listed.has(m[1]!))) {
        assert.fail(`${path.relative(REPO_ROOT, file)} builds a graph but none of its functions is in test/helpers/graph-catalog.ts`);
      }
    }
    for (const [name, file] of found) assert.ok(listed.has(name), `${name} (${file}) builds a graph the CUDA coverage test does not check: add it to test/helpers/graph-catalog.ts`);
    for (const name of listed) assert.ok(found.has(name), `the catalog names ${name}, which no shipped file exports`);
  });

  it('cuda coverage - reports an op/type pair CUDA lacks, naming the node, op, opset and types', () => {
    // CUDA's Clip has no int32 kernel, and its MatMul none for int64; Gemm on float is fine.
    const g = new GraphBuilder('probe');
    const a = g.input('a', 'int32', [2, 2]);
    const b = g.input('b', 'int64', [2, 2]);
    const x = g.input('x', 'float32', [2, 2]);
    g.node('Clip', [a], ['clipped']);
    g.node('MatMul', [b, b], ['product']);
    g.node('Gemm', [x, x], ['y']);
    for (const [n, t] of [['clipped', 'int32'], ['product', 'int64'], ['y', 'float32']] as const) g.output(n, t, [2, 2]);
    const uncovered = uncoveredCudaNodes(g.build());
    assert.deepEqual(uncovered.map((n) => [n.node, n.opType, n.opset, n.inputTypes, n.outputTypes]), [
      ['Clip:clipped', 'Clip', 17, ['int32'], ['int32']],
      ['MatMul:product', 'MatMul', 17, ['int64', 'int64'], ['int64']],
    ]);
    assert.match(uncovered[0]!.reason, /input 0 is int32; T allows double, float, float16, int64, int8, uint64, uint8/);
  });

  it('cuda coverage - reports ops without a CUDA kernel, or none at the model\'s opset', () => {
    // ONNX's Gelu has CUDA kernels from opset 20 only; the graphs import opset 17.
    const gelu = uncoveredCudaNodes(oneNode('Gelu', ['float32'], 'float32').build());
    assert.match(gelu[0]?.reason ?? '', /no CUDA kernel at opset 17 \(kernels cover 20\+\)/);
    const cast = new GraphBuilder('probe_cast');
    cast.node('Cast', [cast.input('s', 'uint16', [2])], ['d'], { to: { i: 11 } }); // to double: fine
    cast.output('d', 'float32', [2]);
    assert.throws(() => uncoveredCudaNodes(cast.build()), (e: unknown) => e instanceof OnnxModelError && /declared float but computed as double/.test(e.message));
  });

  it('cuda coverage - a node whose output type cannot be inferred fails the check loudly, naming it', () => {
    assert.throws(
      () => uncoveredCudaNodes(oneNode('Hardmax', ['float32'], 'float32').build()),
      (e: unknown) => e instanceof OnnxModelError && e.node === 'Hardmax:out' && /no output-type rule for ai\.onnx\.Hardmax/.test(e.message),
    );
  });

  it('cuda coverage - a shape computation on a Shape output is reported: the CUDA provider would run it on the CPU', () => {
    const g = new GraphBuilder('probe_shape');
    const x = g.input('x', 'float32', ['n', 4]);
    const n = g.op('Slice', [g.op('Shape', [x]), g.int64s([0]), g.int64s([1])]);
    const shape = g.op('Concat', [n, g.int64s([2, 2])], { axis: { i: 0 } });
    g.node('Reshape', [x, shape], ['y']);
    g.output('y', 'float32', ['n', 2, 2]);
    const uncovered = uncoveredCudaNodes(g.build());
    assert.deepEqual(uncovered.map((u) => u.opType), ['Slice', 'Concat']);
    assert.match(uncovered[0]!.reason, /places it on the CPU/);
    // Shape feeding Reshape's shape input directly stays on the GPU.
    const direct = new GraphBuilder('probe_shape_direct');
    const a = direct.input('a', 'float32', ['n', 4]);
    direct.node('Reshape', [direct.input('b', 'float32', ['n', 2, 2]), direct.op('Shape', [a])], ['y']);
    direct.output('y', 'float32', ['n', 4]);
    assert.deepEqual(uncoveredCudaNodes(direct.build()), []);
  });

  it('cuda coverage - OrtGraph.create with the cuda provider refuses an uncovered graph before creating a session', async () => {
    const g = oneNode('MatMul', ['int64', 'int64'], 'int64');
    await assert.rejects(OrtGraph.create(g.build(), { intraOpThreads: 1, executionProvider: 'cuda' }), (e: unknown) => {
      assert.ok(e instanceof CudaKernelMissingError, String(e));
      assert.equal(e.graph, 'probe_MatMul');
      assert.deepEqual(e.nodes.map((n) => n.node), ['MatMul:out']);
      assert.match(e.message, /MatMul:out \(ai\.onnx\.MatMul-17, inputs int64, int64 -> int64\)/);
      return true;
    });
    // The same graph on the CPU provider is fine.
    const cpu = await OrtGraph.create(g.build(), { intraOpThreads: 1 });
    await cpu.release();
  });

  it('cuda coverage - with the cuda provider, sessions never fall back to the CPU silently', () => {
    const cuda = sessionOptions({ intraOpThreads: 2, executionProvider: 'cuda' });
    assert.deepEqual(cuda.executionProviders, ['cuda']);
    assert.equal((cuda.extra as { session: Record<string, unknown> }).session['disable_cpu_ep_fallback'], '1');
    const cpu = sessionOptions({ intraOpThreads: 2 });
    assert.deepEqual(cpu.executionProviders, ['cpu']);
    assert.equal((cpu.extra as { session: Record<string, unknown> }).session['disable_cpu_ep_fallback'], undefined);
  });

  it('cuda coverage - the kernel list parser reads rows, opset ranges, alternatives and literal constraints', () => {
    const md = [
      '## Operators implemented by CUDAExecutionProvider',
      '',
      '| Op Name | Parameters | OpSet Version | Types Supported |',
      '|---------|------------|---------------|-----------------|',
      '|**Operator Domain:** *ai.onnx*||||',
      '|Concat|*in* inputs:**T**<br> *out* concat_result:**T**|13+|**T** = tensor(float), tensor(int64)|',
      '|||[4, 12]|**T** = tensor(float)|',
      '|Reshape|*in* data:**T**<br> *in* shape:**tensor(int64)**<br> *out* reshaped:**T**<br><br>or<br><br>*in* data:**T**<br> *out* reshaped:**T**|14|**T** = tensor(float)<br/> **shape** = tensor(int64)|',
      '| |',
      '|**Operator Domain:** *com.microsoft*||||',
      '|Sampling|*in* input_ids:**I**<br> *out* sequences:**I**|1+|**T** = tensor(float), seq(tensor(float16))|',
      '|**Operator Domain:** *com.ms.internal.nhwc*||||',
      '|Conv|*in* X:**T**<br> *out* Y:**T**|1+|**T** = tensor(float)|',
      '<a name="dmlexecutionprovider"/>',
      '|Abs|*in* X:**T**<br> *out* Y:**T**|1+|**T** = tensor(float)|',
    ].join('\n');
    assert.deepEqual(parseCudaKernels(md), {
      'ai.onnx': {
        Concat: { signatures: ['inputs...:T>concat_result:T'], kernels: [[13, null, { T: 'float int64' }], [4, 12, { T: 'float' }]] },
        Reshape: { signatures: ['data:T,shape:tensor(int64)>reshaped:T', 'data:T>reshaped:T'], kernels: [[14, 14, { T: 'float', shape: 'int64' }]] },
      },
      'com.microsoft': { Sampling: { signatures: ['input_ids:I>sequences:I'], kernels: [[1, null, { T: 'float seq(float16)' }]] } },
    });
  });
});
