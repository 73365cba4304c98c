// YaRN rotary embedding, computed as the reference does in fp32 (gpt_oss/torch/model.py
// RotaryEmbedding): inv_freq blends interpolation and extrapolation over a linear ramp, and cos/sin
// are scaled by the concentration 0.1 ln(factor) + 1. The rotation itself (NeoX-style, on the two
// halves) runs in the attention-in graph over these rows.
import type { ModelConfig } from '../model/model-config.js';

const f = Math.fround;

export class RotaryTable {
  private readonly invFreq: Float32Array;
  private readonly concentration: number;
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);
  private positions = 0;
  private readonly half: number;

  constructor(c: ModelConfig) {
    const d = c.headDim;
    this.half = d / 2;
    this.invFreq = new Float32Array(this.half);
    const s = c.ropeScaling;
    for (let i = 0; i < this.half; i++) {
      const freq = f(Math.pow(c.ropeTheta, f((2 * i) / d)));
      if (!s || s.factor <= 1) {
        this.invFreq[i] = f(1 / freq);
        continue;
      }
      let low = (this.half * Math.log(s.originalMaxPositionEmbeddings / (s.betaFast * 2 * Math.PI))) / Math.log(c.ropeTheta);
      let high = (this.half * Math.log(s.originalMaxPositionEmbeddings / (s.betaSlow * 2 * Math.PI))) / Math.log(c.ropeTheta);
      if (s.truncate) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      const ramp = Math.min(1, Math.max(0, f(f(i - low) / f(high - low))));
      const mask = f(1 - ramp);
      const interpolation = f(1 / f(s.factor * freq));
      const extrapolation = f(1 / freq);
      this.invFreq[i] = f(f(interpolation * f(1 - mask)) + f(extrapolation * mask));
    }
    this.concentration = s && s.factor > 1 ? f(0.1 * Math.log(s.factor) + 1) : 1;
  }

  get inverseFrequencies(): Float32Array {
    return this.invFreq;
  }

  private ensure(positions: number): void {
    if (positions <= this.positions) return;
    const n = Math.max(positions, this.positions * 2, 256);
    const cos = new Float32Array(n * this.half);
    const sin = new Float32Array(n * this.half);
    cos.set(this.cos);
    sin.set(this.sin);
    for (let p = this.positions; p < n; p++) {
      for (let i = 0; i < this.half; i++) {
        const angle = f(p * this.invFreq[i]!);
        cos[p * this.half + i] = f(Math.cos(angle)) * this.concentration;
        sin[p * this.half + i] = f(Math.sin(angle)) * this.concentration;
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.positions = n;
  }

  get halfDim(): number {
    return this.half;
  }

  /** Writes the cos and sin rows of `position` ([headDim / 2] each) at row `row` of the outputs. */
  fill(position: number, cos: Float32Array, sin: Float32Array, row: number): void {
    this.ensure(position + 1);
    const half = this.half;
    cos.set(this.cos.subarray(position * half, (position + 1) * half), row * half);
    sin.set(this.sin.subarray(position * half, (position + 1) * half), row * half);
  }
}
