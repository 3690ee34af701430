import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeWav, type WavEncoding } from '@concord/wasm-dsp';

export { decodeWav, encodeWav, type WavData, type WavEncoding } from '@concord/wasm-dsp';

/**
 * Writes mono `samples` in [-1, 1] as a WAV file at any rate (16-bit PCM by default, e.g. a
 * 44.1 kHz file for Chromium's fake microphone, which always captures at 44.1 kHz), creating
 * the folder. Returns `path`. Node only.
 */
export function writeWavFile(
  path: string,
  samples: Float32Array,
  sampleRateHz: number,
  encoding: WavEncoding = 'pcm16',
): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodeWav([samples], sampleRateHz, encoding));
  return path;
}
