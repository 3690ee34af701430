// Seeded fuzz inputs for the frame decoders: random bytes with plausible headers, and valid
// frames mutated (bit flips, bytes, truncation, inserted length prefixes and type markers, header
// flags, lies about the decompressed size). Shared by the decoder fuzz test and the gateway's
// fuzz benchmark.

/**
 * One fuzz input from `next` (a seeded PRNG in [0, 1)): 20 % random bytes, otherwise a copy of
 * one of `seeds` with 1–4 mutations.
 */
export function makeInput(next: () => number, seeds: Uint8Array[]): Uint8Array {
  const pick = next();
  const int = (n: number): number => Math.floor(next() * n);
  if (pick < 0.2) {
    // Pure random bytes with a plausible header.
    const out = new Uint8Array(int(64) + 1);
    for (let i = 0; i < out.length; i++) out[i] = int(256);
    if (next() < 0.7) out[0] = int(4);
    return out;
  }
  const seed = seeds[int(seeds.length)]!;
  const out = seed.slice();
  const mutations = 1 + int(4);
  let bytes = out;
  for (let m = 0; m < mutations; m++) {
    const kind = int(6);
    if (kind === 0 && bytes.length > 1)
      bytes[1 + int(bytes.length - 1)]! ^= 1 << int(8); // bit flip
    else if (kind === 1 && bytes.length > 1)
      bytes[1 + int(bytes.length - 1)] = int(256); // byte
    else if (kind === 2)
      bytes = bytes.subarray(0, int(bytes.length + 1)); // truncate
    else if (kind === 3) {
      // insert interesting bytes (length prefixes, type markers)
      const at = Math.min(bytes.length, 1 + int(Math.max(1, bytes.length - 1)));
      const ins = [0xdd, 0xff, 0xff, 0xff, 0xff, 0xdc, 0xdb, 0xc1, 0xd4, 0x9f, 0xcf][int(11)]!;
      const grown = new Uint8Array(bytes.length + 1);
      grown.set(bytes.subarray(0, at));
      grown[at] = ins;
      grown.set(bytes.subarray(at), at + 1);
      bytes = grown;
    } else if (kind === 4 && bytes.length > 0)
      bytes[0] = int(8); // header flags
    else if (kind === 5 && bytes.length > 5 && (bytes[0]! & 1) === 1) {
      new DataView(bytes.buffer, bytes.byteOffset + 1, 4).setUint32(0, int(2 ** 32), true); // lie about the size
    }
  }
  return bytes;
}
