import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { blockHashes, chainBlockHash, fullBlockCount } from '../../coordinator/session/block-hash.js';

function int32le(ids: number[]): Buffer {
  const b = Buffer.alloc(ids.length * 4);
  ids.forEach((id, i) => b.writeInt32LE(id, i * 4));
  return b;
}

function sha256(...parts: Buffer[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('session block hashes', () => {
  it('session - block i hashes block i-1 hash followed by its token ids as int32 LE', () => {
    const tokens = [...range(0, 16), ...range(200_000, 16)];
    const [h0, h1] = blockHashes(tokens, 16);
    const want0 = sha256(Buffer.alloc(32), int32le(range(0, 16)));
    const want1 = sha256(Buffer.from(want0, 'hex'), int32le(range(200_000, 16)));
    assert.equal(h0, want0);
    assert.equal(h1, want1);
    assert.equal(chainBlockHash(Buffer.from(want0, 'hex'), range(200_000, 16)).toString('hex'), want1);
  });

  it('session - the known vector for tokens 0..3 with block size 4 is stable', () => {
    // sha256(32 zero bytes ‖ 00000000 01000000 02000000 03000000)
    assert.equal(blockHashes([0, 1, 2, 3], 4)[0], 'b02e0d143ccacaaee83a69ef8eda1d98b38aa1e3799ee50360538059e0c2a5c4');
    assert.equal(blockHashes([0, 1, 2, 3], 4)[0], sha256(Buffer.alloc(32), Buffer.from('00000000010000000200000003000000', 'hex')));
    // sha256(32 zero bytes ‖ ffffffff)
    assert.equal(blockHashes([-1], 1)[0], '890ed82cf09f22243bdc4252e4d79c8a9810c1391f455dce37a7b732eb0a0e4f');
  });

  it('session - conversations sharing a prefix share the hashes of its full blocks and no others', () => {
    const shared = range(1000, 40);
    const a = blockHashes([...shared, ...range(1, 24)], 16);
    const b = blockHashes([...shared, ...range(5, 24)], 16);
    assert.equal(a.length, 4);
    assert.deepEqual(a.slice(0, 2), b.slice(0, 2));
    assert.notEqual(a[2], b[2]);
    assert.notEqual(a[3], b[3]);
  });

  it('session - a change in an early block changes every later hash (chaining)', () => {
    const a = range(0, 64);
    const b = [...a];
    b[3] = 99_999;
    const ha = blockHashes(a, 16);
    const hb = blockHashes(b, 16);
    for (let i = 0; i < 4; i++) assert.notEqual(ha[i], hb[i], `block ${i}`);
    // Same block content after a different prefix: different hash.
    assert.notEqual(blockHashes([...range(0, 16), ...range(0, 16)], 16)[1], blockHashes(range(0, 16), 16)[0]);
  });

  it('session - only full blocks are hashed', () => {
    assert.equal(blockHashes(range(0, 15), 16).length, 0);
    assert.equal(blockHashes(range(0, 16), 16).length, 1);
    assert.equal(blockHashes(range(0, 47), 16).length, 2);
    assert.equal(blockHashes(range(0, 47), 16, 1).length, 1);
    assert.equal(fullBlockCount(47, 16), 2);
    assert.deepEqual(blockHashes(range(0, 47), 16), blockHashes(range(0, 32), 16));
  });

  it('session - block size 0 and token ids outside int32 are rejected', () => {
    assert.throws(() => blockHashes([1, 2], 0), RangeError);
    assert.throws(() => blockHashes([2 ** 31], 1), RangeError);
  });
});
