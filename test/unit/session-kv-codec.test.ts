import assert from 'node:assert/strict';
import { WireFormatError } from '../../common/errors.js';
import {
  KV_BLOCK_HEADER_BYTES,
  decodeKvBlock,
  encodeKvBlock,
  kvBlockBytes,
  validateKvBlockHeader,
  type KvBlockLayout,
} from '../../coordinator/session/kv-block-codec.js';

const layout: KvBlockLayout = { numLayers: 2, kvDim: 4, blockSize: 3 };

/** Per layer [positions, kvDim] with awkward floats: -0, NaN with a payload, denormals, infinities. */
function layers(positions: number, seed: number): Float32Array[] {
  return Array.from({ length: layout.numLayers }, (_, l) => {
    const a = new Float32Array(positions * layout.kvDim);
    for (let i = 0; i < a.length; i++) a[i] = Math.fround(Math.sin(seed + l * 100 + i) * 1e3);
    a[0] = -0;
    a[1] = 1e-45;
    a[2] = -Infinity;
    new Uint32Array(a.buffer)[3] = 0x7fc0_1234; // NaN with a payload
    return a;
  });
}

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('session kv block codec', () => {
  it('session - encode then decode gives back the exact bytes of every layer', () => {
    const keys = layers(3, 1);
    const values = layers(3, 2);
    const block = encodeKvBlock(layout, keys, values);
    assert.equal(block.length, kvBlockBytes(layout));
    assert.equal(block.length, KV_BLOCK_HEADER_BYTES + 2 * 2 * 3 * 4 * 4);
    const out = decodeKvBlock(layout, block);
    for (let l = 0; l < layout.numLayers; l++) {
      assert.deepEqual(bytesOf(out.keys[l]!), bytesOf(keys[l]!), `layer ${l} keys`);
      assert.deepEqual(bytesOf(out.values[l]!), bytesOf(values[l]!), `layer ${l} values`);
    }
  });

  it('session - the header and payload layout is as documented', () => {
    const keys = [new Float32Array(12).fill(1), new Float32Array(12).fill(3)];
    const values = [new Float32Array(12).fill(2), new Float32Array(12).fill(4)];
    const block = encodeKvBlock(layout, keys, values);
    // "GKVB", version 1, dtype 1 (fp32), numLayers 2, kvDim 4, blockSize 3, reserved 0.
    assert.equal(block.subarray(0, 24).toString('hex'), '474b5642' + '0100' + '0100' + '02000000' + '04000000' + '03000000' + '00000000');
    const floats = (at: number): number => block.readFloatLE(at);
    const slab = 12 * 4;
    assert.deepEqual([floats(24), floats(24 + slab), floats(24 + 2 * slab), floats(24 + 3 * slab)], [1, 2, 3, 4]);
  });

  it('session - encode takes positions [offset, offset + blockSize) of a longer range', () => {
    const keys = layers(9, 3);
    const values = layers(9, 4);
    const out = decodeKvBlock(layout, encodeKvBlock(layout, keys, values, 3));
    const n = layout.blockSize * layout.kvDim;
    assert.deepEqual(bytesOf(out.keys[1]!), bytesOf(keys[1]!.subarray(n, 2 * n)));
    assert.deepEqual(bytesOf(out.values[0]!), bytesOf(values[0]!.subarray(n, 2 * n)));
    assert.throws(() => encodeKvBlock(layout, keys, values, 7), RangeError);
  });

  it('session - decode accepts a block at an unaligned offset of a larger buffer', () => {
    const block = encodeKvBlock(layout, layers(3, 5), layers(3, 6));
    const big = Buffer.alloc(block.length + 3);
    block.copy(big, 1);
    const out = decodeKvBlock(layout, big.subarray(1, 1 + block.length));
    assert.deepEqual(bytesOf(out.keys[0]!), bytesOf(decodeKvBlock(layout, block).keys[0]!));
  });

  it('session - a header that does not fit the model is rejected naming the field', () => {
    const block = encodeKvBlock(layout, layers(3, 1), layers(3, 2));
    const rejects = (bytes: Buffer, field: string, l: KvBlockLayout = layout): void => {
      assert.throws(
        () => decodeKvBlock(l, bytes),
        (err: unknown) => err instanceof WireFormatError && err.field === field && err.message.startsWith('kv block: '),
        field,
      );
    };
    rejects(block, 'kvDim', { ...layout, kvDim: 8 });
    rejects(block, 'numLayers', { ...layout, numLayers: 3 });
    rejects(block, 'blockSize', { ...layout, blockSize: 16 });
    const patched = (at: number, write: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(block);
      write(copy.subarray(at));
      return copy;
    };
    rejects(patched(0, (b) => b.write('JSON', 'latin1')), 'magic');
    rejects(patched(4, (b) => b.writeUInt16LE(2)), 'version');
    rejects(patched(6, (b) => b.writeUInt16LE(2)), 'dtype');
    rejects(patched(20, (b) => b.writeUInt32LE(7)), 'reserved');
    rejects(block.subarray(0, block.length - 4), 'length');
    rejects(Buffer.concat([block, Buffer.alloc(4)]), 'length');
    rejects(block.subarray(0, 10), 'length');
    rejects(Buffer.from('[1.5,2.5]'), 'length');
    assert.throws(() => validateKvBlockHeader({ ...layout, kvDim: 8 }, block), /kvDim is 4, expected 8/);
  });
});
