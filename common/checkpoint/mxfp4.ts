// MXFP4 (OCP microscaling FP4): blocks of 32 values along the input dimension, 16 bytes of e2m1
// codes (element 2j = low nibble of byte j) and one e8m0 scale byte: value = LUT[code] * 2^(s-127).

export const FP4_VALUES = Float32Array.of(0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6);

/**
 * Bits of byte b's two values times 2^(s - 127), at [2 (256 s + b)] and [2 (256 s + b) + 1]
 * (512 KiB, built on first use): decoding is then two integer copies per byte, several times
 * faster than a table look-up and a multiply per value.
 */
let scaledPairBits: Uint32Array | null = null;
function scaledPairs(): Uint32Array {
  if (!scaledPairBits) {
    const values = new Float32Array(256 * 256 * 2);
    for (let s = 0; s < 256; s++) {
      const scale = Math.pow(2, s - 127);
      for (let b = 0; b < 256; b++) {
        values[2 * (256 * s + b)] = FP4_VALUES[b & 0x0f]! * scale;
        values[2 * (256 * s + b) + 1] = FP4_VALUES[b >> 4]! * scale;
      }
    }
    scaledPairBits = new Uint32Array(values.buffer);
  }
  return scaledPairBits;
}

/** Decodes [rows, cols/32, 16] codes + [rows, cols/32] scales into a row-major fp32 [rows, cols]. */
export function decodeMxfp4(blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number): Float32Array {
  const nBlocks = cols / 32;
  if (blocks.length !== rows * nBlocks * 16 || scales.length !== rows * nBlocks) {
    throw new Error(`decodeMxfp4: ${blocks.length} code bytes / ${scales.length} scales do not fit [${rows}, ${cols}]`);
  }
  const out = new Float32Array(rows * cols);
  const outBits = new Uint32Array(out.buffer);
  const pairs = scaledPairs();
  for (let b = 0; b < rows * nBlocks; b++) {
    const base = scales[b]! << 9;
    const src = b * 16;
    const dst = b * 32;
    for (let j = 0; j < 16; j++) {
      const p = base + (blocks[src + j]! << 1);
      outBits[dst + 2 * j] = pairs[p]!;
      outBits[dst + 2 * j + 1] = pairs[p + 1]!;
    }
  }
  return out;
}
