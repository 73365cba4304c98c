// Every onnxruntime graph the project builds, each from its real builder on a small checkpoint:
// the CUDA coverage test checks every node of every one. An exported function that returns a
// BuiltModel anywhere in the shipped code must be named by an entry here (the test scans the source
// for them), so a new graph, or a new expert precision (taken from EXPERT_PRECISIONS), is checked
// without anyone having to remember it.
import type { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { loadExpertWeights, loadLayerWeights, loadUnembeddingWeights } from '../../common/checkpoint/weights.js';
import { buildAttentionCore, buildDecodeAttention } from '../../common/engine/attention-graph.js';
import { buildAttentionIn, buildAttentionOut, buildUnembedding } from '../../common/engine/dense-graphs.js';
import { decodeExpert } from '../../common/experts/expert-decode.js';
import { buildExpertGraph, fedExpertGraph, weightsAreFed } from '../../common/experts/expert-graph.js';
import { EXPERT_PRECISIONS, type ExpertRuntimeOptions } from '../../common/experts/expert-precision.js';
import type { BuiltModel } from '../../common/onnx/graph-builder.js';

export interface GraphSample {
  readonly label: string;
  readonly built: BuiltModel;
}

export interface GraphCatalogEntry {
  readonly name: string;
  /** The shipped functions (returning BuiltModel) whose graphs `samples` builds. */
  readonly builders: readonly string[];
  samples(ckpt: Checkpoint): Promise<GraphSample[]>;
}

export const GRAPH_CATALOG: readonly GraphCatalogEntry[] = [
  {
    name: 'dense half: attention in (qkv + RoPE) and attention out (o_proj, norm, router)',
    builders: ['buildAttentionIn', 'buildAttentionOut'],
    async samples(ckpt) {
      const w = await loadLayerWeights(ckpt, 0);
      return [
        { label: 'attn_in', built: buildAttentionIn(ckpt.config, 0, w.attention) },
        { label: 'attn_out', built: buildAttentionOut(ckpt.config, 0, w.attention, w.router) },
      ];
    },
  },
  {
    name: 'unembedding (one block; the engine loads lm_head in row blocks of this graph)',
    builders: ['buildUnembedding'],
    async samples(ckpt) {
      const u = await loadUnembeddingWeights(ckpt);
      return [{ label: 'unembed', built: buildUnembedding(ckpt.config, u.finalNorm, u.lmHead) }];
    },
  },
  {
    name: 'attention core: prefill blocks, and decode (one sequence or packed, keys-major)',
    builders: ['buildAttentionCore', 'buildDecodeAttention'],
    async samples(ckpt) {
      return [
        { label: 'attention_core (prefill)', built: buildAttentionCore(ckpt.config) },
        { label: 'attention_decode (decode, packed decode)', built: buildDecodeAttention(ckpt.config) },
      ];
    },
  },
  {
    name: 'experts, in every precision of EXPERT_PRECISIONS (held weights, or the one fed graph), each accuracy level offered',
    builders: ['buildExpertGraph', 'fedExpertGraph'],
    async samples(ckpt) {
      const w = await loadExpertWeights(ckpt, 0, 0);
      const out: GraphSample[] = [];
      for (const precision of EXPERT_PRECISIONS) {
        for (const accuracyLevel of [0, 1] as const) {
          const opts: ExpertRuntimeOptions = { precision, accuracyLevel, intraOpThreads: 1 };
          // As ExpertSet builds them.
          const built = weightsAreFed(opts) ? fedExpertGraph(ckpt.config, opts) : buildExpertGraph(ckpt.config, decodeExpert(ckpt.config, w, precision), opts);
          out.push({ label: `expert ${precision} (accuracy level ${accuracyLevel})`, built });
        }
      }
      return out;
    },
  },
];
