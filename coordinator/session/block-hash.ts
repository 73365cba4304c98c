// Prefix-chained block hashes, as in vLLM's prefix caching: the token sequence is cut into blocks
// of `blockSize` tokens and block i is named by
//
//   hash(i) = sha256( hash(i-1) ‖ token ids of block i as int32 little-endian )
//
// with hash(-1) = 32 zero bytes. A block's hash therefore identifies the whole prefix up to its
// end, so two conversations that share a prefix share the keys of its blocks, and a block can
// never be attached after the wrong prefix. Only full blocks are hashed (and stored): a trailing
// partial block is recomputed.
import { createHash } from 'node:crypto';

export const DEFAULT_BLOCK_SIZE = 16;

const ROOT = Buffer.alloc(32);

/** Number of full blocks in `tokenCount` tokens. */
export function fullBlockCount(tokenCount: number, blockSize: number): number {
  return Math.floor(tokenCount / blockSize);
}

/** The hash of one block given its parent's hash (null for the first block). 32 bytes. */
export function chainBlockHash(parent: Buffer | null, blockTokens: readonly number[]): Buffer {
  const ids = Buffer.alloc(blockTokens.length * 4);
  for (let i = 0; i < blockTokens.length; i++) ids.writeInt32LE(blockTokens[i]!, i * 4);
  return createHash('sha256')
    .update(parent ?? ROOT)
    .update(ids)
    .digest();
}

/**
 * Hex hashes of the full blocks of `tokens`, in order (at most `maxBlocks` of them). Throws
 * RangeError for a token id that is not an int32.
 */
export function blockHashes(tokens: readonly number[], blockSize = DEFAULT_BLOCK_SIZE, maxBlocks = Infinity): string[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
  const n = Math.min(fullBlockCount(tokens.length, blockSize), maxBlocks);
  const out: string[] = [];
  let parent: Buffer | null = null;
  for (let b = 0; b < n; b++) {
    parent = chainBlockHash(parent, tokens.slice(b * blockSize, (b + 1) * blockSize));
    out.push(parent.toString('hex'));
  }
  return out;
}
