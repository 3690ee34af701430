// LZ4 block compression through lz4js, with the decompressed length carried by the caller and
// a validation pass so that malformed blocks are rejected in O(input) before lz4js touches them.
// Block format: https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md
import * as lz4 from 'lz4js';
import { ProtocolError } from './ProtocolError.js';

const MIN_MATCH = 4;
// lz4js indexes a 64 Ki-entry hash table; one per module, cleared before each compression.
const hashTable = new Uint32Array(1 << 16);

/**
 * Compresses `src` into a fresh buffer. Returns `undefined` when LZ4 cannot make it smaller,
 * so the caller sends it uncompressed.
 */
export function lz4CompressBlock(src: Uint8Array): Uint8Array | undefined {
  const dst = new Uint8Array(lz4.compressBound(src.length));
  hashTable.fill(0);
  const written = lz4.compressBlock(src, dst, 0, src.length, hashTable);
  if (written === 0 || written >= src.length) return undefined;
  return dst.subarray(0, written);
}

/**
 * Decompresses an LZ4 block whose decompressed size the frame declared. The caller has
 * already checked `size` against the limit; this allocates exactly `size` bytes.
 * @throws {ProtocolError} `INVALID_FRAME` when the block is malformed or its output length
 * differs from `size`.
 */
export function lz4DecompressBlock(block: Uint8Array, size: number): Uint8Array {
  validateBlock(block, size);
  const dst = new Uint8Array(size);
  const written = lz4.decompressBlock(block, dst, 0, block.length, 0);
  if (written !== size) throw ProtocolError.invalidFrame('LZ4 block length mismatch');
  return dst;
}

// Walks the sequences and checks every length and offset without copying anything.
function validateBlock(src: Uint8Array, size: number): void {
  const end = src.length;
  let s = 0;
  let out = 0;
  const bad = (why: string): ProtocolError =>
    ProtocolError.invalidFrame(`malformed LZ4 block: ${why}`);
  if (end === 0) throw bad('empty');
  while (s < end) {
    const token = src[s++]!;
    let literals = token >> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (s >= end) throw bad('truncated literal length');
        b = src[s++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > end - s) throw bad('literals past the end of the block');
    s += literals;
    out += literals;
    if (out > size) throw bad('output longer than declared');
    if (s === end) break; // the last sequence has literals only
    if (s + 2 > end) throw bad('truncated match offset');
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    if (offset === 0 || offset > out) throw bad('match offset outside the output');
    let matchLength = token & 15;
    if (matchLength === 15) {
      let b: number;
      do {
        if (s >= end) throw bad('truncated match length');
        b = src[s++]!;
        matchLength += b;
      } while (b === 255);
    }
    out += matchLength + MIN_MATCH;
    if (out > size) throw bad('output longer than declared');
  }
  if (out !== size) throw bad('output shorter than declared');
}
