import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeWav, encodeWav, SAMPLE_RATE_HZ, type WavEncoding } from '@concord/wasm-dsp';
import { resampleTo48k } from './PcmSource.js';

/**
 * Reads a WAV file (PCM 8/16/24/32-bit or float, any rate, any channel count) as mono samples
 * at 48 kHz, ready for `PcmSource.play`: channels are averaged, other rates resampled. Node
 * main thread; allocates.
 * @throws {DspError} `CONCORD_ERR_DSP_FORMAT` for a file that is not a supported WAV.
 * @throws {Error} from the file system (e.g. ENOENT).
 */
export async function readWavFile(path: string): Promise<Float32Array> {
  const wav = decodeWav(new Uint8Array(readFileSync(path)));
  const channels = wav.channels;
  const length = channels[0]?.length ?? 0;
  let mono = channels[0] ?? new Float32Array(0);
  if (channels.length > 1) {
    mono = new Float32Array(length);
    for (const ch of channels)
      for (let i = 0; i < length; i++) mono[i]! += ch[i]! / channels.length;
  }
  return resampleTo48k(mono, wav.sampleRateHz);
}

/**
 * Writes mono samples in [−1, 1] as a WAV file (16-bit PCM by default, 48 kHz by default),
 * creating the folder. Returns `path`. Node main thread.
 */
export function writeWavFile(
  path: string,
  samples: Float32Array,
  sampleRateHz: number = SAMPLE_RATE_HZ,
  encoding: WavEncoding = 'pcm16',
): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodeWav([samples], sampleRateHz, encoding));
  return path;
}
