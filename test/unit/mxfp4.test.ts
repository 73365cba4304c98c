import assert from 'node:assert/strict';
import { decodeMxfp4, FP4_VALUES } from '../../common/checkpoint/mxfp4.js';
import { bf16ToFloat32, float32ToBf16 } from '../../common/checkpoint/bf16.js';

describe('mxfp4', () => {
  it('mxfp4 - element 2j is the low nibble of byte j, scaled by 2^(scale-127)', () => {
    const blocks = new Uint8Array(16);
    blocks[0] = 0x92; // low nibble 2 (+1.0), high nibble 9 (-0.5)
    blocks[15] = 0x7f; // low 15 (-6), high 7 (+6)
    const out = decodeMxfp4(blocks, Uint8Array.of(128), 1, 32);
    assert.equal(out[0], 2);
    assert.equal(out[1], -1);
    assert.equal(out[30], -12);
    assert.equal(out[31], 12);
    assert.equal(out[2], 0);
  });

  it('mxfp4 - the lookup table matches e2m1', () => {
    assert.deepEqual([...FP4_VALUES].map((v) => Math.abs(v)), [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, 0.5, 1, 1.5, 2, 3, 4, 6]);
  });

  it('bf16 - widening and rounding round-trip representable values and round to nearest even', () => {
    const v = Float32Array.of(1, -2.5, 3.140625, 0);
    assert.deepEqual([...bf16ToFloat32(float32ToBf16(v))], [...v]);
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1).
    assert.equal(bf16ToFloat32(float32ToBf16(Float32Array.of(1 + 2 ** -8)))[0], 1);
  });
});
