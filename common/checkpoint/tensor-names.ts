// Every checkpoint tensor name, built in one place (Hugging Face gpt-oss layout).

export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const LM_HEAD = 'lm_head.weight';
export const FINAL_NORM = 'model.norm.weight';

export function layerTensorNames(layer: number) {
  const p = `model.layers.${layer}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    postAttentionNorm: `${p}.post_attention_layernorm.weight`,
    qWeight: `${p}.self_attn.q_proj.weight`,
    qBias: `${p}.self_attn.q_proj.bias`,
    kWeight: `${p}.self_attn.k_proj.weight`,
    kBias: `${p}.self_attn.k_proj.bias`,
    vWeight: `${p}.self_attn.v_proj.weight`,
    vBias: `${p}.self_attn.v_proj.bias`,
    oWeight: `${p}.self_attn.o_proj.weight`,
    oBias: `${p}.self_attn.o_proj.bias`,
    sinks: `${p}.self_attn.sinks`,
    routerWeight: `${p}.mlp.router.weight`,
    routerBias: `${p}.mlp.router.bias`,
    gateUpBlocks: `${p}.mlp.experts.gate_up_proj_blocks`,
    gateUpScales: `${p}.mlp.experts.gate_up_proj_scales`,
    gateUpBias: `${p}.mlp.experts.gate_up_proj_bias`,
    downBlocks: `${p}.mlp.experts.down_proj_blocks`,
    downScales: `${p}.mlp.experts.down_proj_scales`,
    downBias: `${p}.mlp.experts.down_proj_bias`,
  };
}
