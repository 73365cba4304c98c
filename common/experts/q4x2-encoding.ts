// q4x2: MXFP4 re-encoded exactly as two 4-bit integer matrices for onnxruntime's MatMulNBits.
// Every e2m1 value v has 2v in {0, ±1, ±2, ±3, ±4, ±6, ±8, ±12}, and each of those is a + 4b with
// a, b in -3..3 (the sign on both): 1 = 1 + 4·0, 6 = 2 + 4·1, 12 = 0 + 4·3. With the block's e8m0
// scale 2^e, a block's share of W·x is 2^(e-1) · (A·x + B·(4x)), both A and B small integers.
//
// Layout, per row and per MXFP4 block j of 32 input values: 32 bytes, the 16 bytes of A's codes
// then the 16 of B's (4-bit, +8: MatMulNBits' default zero point, element 2i in the low nibble of
// byte i like MXFP4 itself), under one fp32 scale 2^(e-1). That is one MatMulNBits block of 64
// over an input of doubled width, [x_j | 4 x_j] per block (q4x2-projection.ts builds it in the
// graph). Sharing one scale between A's and B's halves keeps it at 9 bits per parameter (8 of
// codes, 1 of scale); separate blocks of 32 would take 10 and measured no faster.
import { FP4_VALUES } from '../checkpoint/mxfp4.js';
import { ExpertEncodingError } from '../errors.js';

export interface Q4x2Weights {
  /** [rows, cols / 32, 32] bytes: per MXFP4 block, A's 32 codes then B's. */
  readonly codes: Uint8Array;
  /** [rows * cols / 32]: 2^(e8m0 - 128), one per block of 64 doubled-width inputs. */
  readonly scales: Float32Array;
}

/** 2v = a + 4b with a, b in -3..3, for v = FP4_VALUES[code]. */
export function splitFp4(code: number): { a: number; b: number } {
  const twice = 2 * FP4_VALUES[code]!;
  const m = Math.abs(twice);
  const b = m >= 4 ? Math.trunc(m / 4) : 0;
  const a = m - 4 * b;
  return twice < 0 ? { a: 0 - a, b: 0 - b } : { a, b }; // 0 - 0 is +0, unlike -0
}

/**
 * Two MXFP4 bytes (a little-endian uint16, 4 codes) -> A's two code bytes in the low 16 bits and
 * B's in the high 16 (256 KiB, built on first use): the conversion is one look-up per 2 bytes.
 */
let pairTable: Uint32Array | null = null;
function q4x2Pairs(): Uint32Array {
  if (!pairTable) {
    const nibbles = Array.from({ length: 16 }, (_, c) => {
      const { a, b } = splitFp4(c);
      return { a: a + 8, b: b + 8 };
    });
    const byteOf = (byte: number, half: 'a' | 'b'): number => nibbles[byte & 15]![half] | (nibbles[byte >> 4]![half] << 4);
    pairTable = new Uint32Array(65536);
    for (let p = 0; p < 65536; p++) {
      const lo = p & 0xff;
      const hi = p >> 8;
      const a = byteOf(lo, 'a') | (byteOf(hi, 'a') << 8);
      const b = byteOf(lo, 'b') | (byteOf(hi, 'b') << 8);
      pairTable[p] = (a | (b << 16)) >>> 0;
    }
  }
  return pairTable;
}

/** e8m0 byte s -> 2^(s - 128) (255, e8m0's NaN, is refused before it is looked up). */
let halfScales: Float32Array | null = null;
function e8m0HalfScales(): Float32Array {
  halfScales ??= Float32Array.from({ length: 256 }, (_, s) => Math.pow(2, s - 128));
  return halfScales;
}

const E8M0_NAN = 255;

/**
 * Re-encodes MXFP4 codes [rows, cols/32, 16] and e8m0 scales [rows, cols/32] as q4x2. `what`
 * names the tensor in errors (e.g. "layer 3 expert 7 gate_up").
 */
export function mxfp4ToQ4x2(blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number, what: string): Q4x2Weights {
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0 || cols % 32 !== 0) {
    throw new ExpertEncodingError(`${what}: shape [${rows}, ${cols}] is not positive rows by a positive multiple of 32 columns`, what);
  }
  const nBlocks = rows * (cols / 32);
  if (blocks.length !== nBlocks * 16 || scales.length !== nBlocks) {
    throw new ExpertEncodingError(`${what}: ${blocks.length} code bytes / ${scales.length} scales do not fit [${rows}, ${cols}] (expected ${nBlocks * 16} / ${nBlocks})`, what);
  }
  const s = new Float32Array(nBlocks);
  const scaleOf = e8m0HalfScales();
  for (let b = 0; b < nBlocks; b++) {
    const e = scales[b]!;
    // NaN has no power of two to stand for; a finite stand-in would compute something else silently.
    if (e === E8M0_NAN) throw new ExpertEncodingError(`${what}: block ${b} has e8m0 scale 255 (NaN)`, what, b);
    s[b] = scaleOf[e]!;
  }
  // Read two code bytes at a time; a view at an odd offset cannot be one, so copy that (rare) case.
  const src = blocks.byteOffset % 2 === 0 ? new Uint16Array(blocks.buffer, blocks.byteOffset, blocks.length / 2) : new Uint16Array(blocks.slice().buffer);
  const codes = new Uint8Array(nBlocks * 32);
  const dst = new Uint16Array(codes.buffer);
  const pairs = q4x2Pairs();
  for (let b = 0; b < nBlocks; b++) {
    const i = b * 8;
    const o = b * 16;
    for (let j = 0; j < 8; j++) {
      const t = pairs[src[i + j]!]!;
      dst[o + j] = t; // A (Uint16Array keeps the low 16 bits)
      dst[o + 8 + j] = t >>> 16; // B
    }
  }
  return { codes, scales: s };
}
