// A sequence's KV cache: per layer, post-RoPE keys and values as [position, kvHeads * headDim]
// fp32. Positions become visible (`length`) only when a whole step commits, so a step that fails
// part-way can be retried without corrupting the cache.

export class KvCache {
  private keys: Float32Array[];
  private values: Float32Array[];
  private capacity: number;
  /** Token ids whose keys and values are in the cache, in order. */
  readonly tokens: number[] = [];

  constructor(
    readonly numLayers: number,
    readonly kvDim: number,
    initialCapacity = 64,
  ) {
    this.capacity = initialCapacity;
    this.keys = Array.from({ length: numLayers }, () => new Float32Array(initialCapacity * kvDim));
    this.values = Array.from({ length: numLayers }, () => new Float32Array(initialCapacity * kvDim));
  }

  get length(): number {
    return this.tokens.length;
  }

  ensureCapacity(positions: number): void {
    if (positions <= this.capacity) return;
    let cap = this.capacity;
    while (cap < positions) cap *= 2;
    const grow = (old: Float32Array): Float32Array => {
      const n = new Float32Array(cap * this.kvDim);
      n.set(old.subarray(0, this.length * this.kvDim));
      return n;
    };
    this.keys = this.keys.map(grow);
    this.values = this.values.map(grow);
    this.capacity = cap;
  }

  layerKeys(layer: number): Float32Array {
    return this.keys[layer]!;
  }

  layerValues(layer: number): Float32Array {
    return this.values[layer]!;
  }

  /** Makes the step's new positions visible. */
  commit(newTokens: readonly number[]): void {
    for (const t of newTokens) this.tokens.push(t);
  }

  /** Forgets everything from `length` on (e.g. to re-run a prompt suffix). */
  truncate(length: number): void {
    this.tokens.length = Math.min(length, this.tokens.length);
  }

  /** Copies positions [from, to) of every layer out (for persistence): [layer][k|v] slices. */
  exportRange(from: number, to: number): { keys: Float32Array[]; values: Float32Array[] } {
    const a = from * this.kvDim;
    const b = to * this.kvDim;
    return {
      keys: this.keys.map((k) => k.slice(a, b)),
      values: this.values.map((v) => v.slice(a, b)),
    };
  }

  /** Appends positions restored from persistence. */
  importRange(tokens: readonly number[], keys: readonly Float32Array[], values: readonly Float32Array[]): void {
    const start = this.length;
    this.ensureCapacity(start + tokens.length);
    for (let l = 0; l < this.numLayers; l++) {
      this.keys[l]!.set(keys[l]!, start * this.kvDim);
      this.values[l]!.set(values[l]!, start * this.kvDim);
    }
    this.commit(tokens);
  }
}
