// bf16 cannot cross onnxruntime's JS boundary and few CPU kernels take it: widen to fp32 here.

export function bf16ToFloat32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length >> 1);
  widenBf16Into(bytes, out);
  return out;
}

/** Widens bf16 bytes into `out` (which holds exactly bytes.length / 2 values). */
export function widenBf16Into(bytes: Uint8Array, out: Float32Array): void {
  const n = bytes.length >> 1;
  if (out.length !== n) throw new RangeError(`widenBf16Into: ${n} bf16 values into ${out.length} floats`);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, n);
  if (bytes.byteOffset % 2 === 0) {
    // One 16-bit load per value: several times faster than assembling two bytes.
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) outBits[i] = halves[i]! << 16;
  } else {
    for (let i = 0; i < n; i++) outBits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  }
}

export function f16ToFloat32(bytes: Uint8Array): Float32Array {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const h = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    out[i] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** Round-to-nearest-even fp32 -> bf16, as torch does. */
export function float32ToBf16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const rounded = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    out[2 * i] = rounded & 0xff;
    out[2 * i + 1] = rounded >> 8;
  }
  return out;
}
