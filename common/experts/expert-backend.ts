// Where the experts run is the one thing that differs between the single-process engine and the
// distributed coordinator; the forward pass sees only this interface.

/** Each token's top-k experts of one layer and their mixing weights (softmax over the k). */
export interface LayerRouting {
  readonly tokenCount: number;
  readonly k: number;
  /** [tokenCount * k] expert ids, descending router logit. */
  readonly experts: Int32Array;
  /** [tokenCount * k] mixing weights. */
  readonly weights: Float32Array;
}

export interface ExpertBackend {
  /**
   * Runs layer `layer`'s experts on `hidden` ([tokenCount, hiddenSize], the post-attention-norm
   * activations) and returns, per token, the routing-weighted sum of its experts' outputs.
   */
  runLayer(layer: number, hidden: Float32Array, routing: LayerRouting): Promise<Float32Array>;
  close(): Promise<void>;
  /**
   * True when runLayer's work happens outside this thread (other processes), so the forward pass
   * can compute one micro-batch's attention while another's experts run.
   */
  readonly computesElsewhere?: boolean;
}

/** Top-k of each token's raw router logits, then softmax over those k only (reference MLPBlock). */
export function routeTokens(logits: Float32Array, tokenCount: number, numExperts: number, k: number): LayerRouting {
  const experts = new Int32Array(tokenCount * k);
  const weights = new Float32Array(tokenCount * k);
  const chosen = new Int32Array(k);
  for (let t = 0; t < tokenCount; t++) {
    const row = t * numExperts;
    // Selection by repeated max keeps torch.topk's order: descending, lower index first on ties.
    for (let j = 0; j < k; j++) {
      let best = -1;
      let bestVal = -Infinity;
      for (let e = 0; e < numExperts; e++) {
        const v = logits[row + e]!;
        if ((v > bestVal || best < 0) && !chosen.subarray(0, j).includes(e)) {
          best = e;
          bestVal = v;
        }
      }
      chosen[j] = best;
    }
    const max = logits[row + chosen[0]!]!;
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[row + chosen[j]!]! - max);
    for (let j = 0; j < k; j++) {
      experts[t * k + j] = chosen[j]!;
      weights[t * k + j] = Math.exp(logits[row + chosen[j]!]! - max) / sum;
    }
  }
  return { tokenCount, k, experts, weights };
}
