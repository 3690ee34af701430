import { DspError } from './DspError.js';

/** Decoded PCM from a WAV file: one Float32Array per channel, samples in [-1, 1]. */
export interface WavData {
  /** Sample rate in Hz. */
  sampleRateHz: number;
  /** Per-channel samples in [-1, 1]. */
  channels: Float32Array[];
}

/** Sample encodings that {@link encodeWav} writes. */
export type WavEncoding = 'pcm16' | 'float32';

/** Largest WAV payload accepted by {@link decodeWav}, in bytes (1 GiB). */
export const MAX_WAV_DATA_BYTES = 1 << 30;

/**
 * Parses a RIFF/WAVE file: PCM 8/16/24/32-bit integer or IEEE float 32/64-bit, any rate,
 * any channel count (WAVE_FORMAT_EXTENSIBLE included). Runs on any thread; allocates.
 * @throws {DspError} `CONCORD_ERR_DSP_FORMAT` for anything else.
 */
export function decodeWav(bytes: Uint8Array): WavData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number): string =>
    String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0, bytes[at + 2] ?? 0, bytes[at + 3] ?? 0);
  if (bytes.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw DspError.format('not a RIFF/WAVE file');
  }
  let format = -1;
  let channelCount = 0;
  let sampleRateHz = 0;
  let bitsPerSample = 0;
  let offset = 12;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.byteLength) throw DspError.format('truncated fmt chunk');
      format = view.getUint16(body, true);
      channelCount = view.getUint16(body + 2, true);
      sampleRateHz = view.getUint32(body + 4, true);
      bitsPerSample = view.getUint16(body + 14, true);
      if (format === 0xfffe && size >= 26) format = view.getUint16(body + 24, true);
    } else if (id === 'data') {
      if (format < 0) throw DspError.format('data chunk before fmt chunk');
      // Streams written live often leave the data size at 0 or 0xffffffff: take what is there.
      const available = bytes.byteLength - body;
      const dataBytes = size === 0 || size > available ? available : size;
      if (dataBytes > MAX_WAV_DATA_BYTES) throw DspError.format('WAV data exceeds 1 GiB');
      return {
        sampleRateHz,
        channels: decodeSamples(view, body, dataBytes, format, channelCount, bitsPerSample),
      };
    }
    offset = body + size + (size & 1);
  }
  throw DspError.format('no data chunk');
}

function decodeSamples(
  view: DataView,
  start: number,
  dataBytes: number,
  format: number,
  channelCount: number,
  bits: number,
): Float32Array[] {
  if (channelCount < 1 || channelCount > 32)
    throw DspError.format(`bad channel count ${channelCount}`);
  const bytesPerSample = bits / 8;
  const isFloat = format === 3;
  if (!(format === 1 || isFloat)) throw DspError.format(`unsupported WAV format tag ${format}`);
  if (isFloat ? bits !== 32 && bits !== 64 : ![8, 16, 24, 32].includes(bits)) {
    throw DspError.format(`unsupported ${isFloat ? 'float' : 'PCM'} sample size ${bits} bits`);
  }
  const frames = Math.floor(dataBytes / (bytesPerSample * channelCount));
  const channels = Array.from({ length: channelCount }, () => new Float32Array(frames));
  let at = start;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channelCount; c++) {
      let v: number;
      if (isFloat) v = bits === 32 ? view.getFloat32(at, true) : view.getFloat64(at, true);
      else if (bits === 8) v = (view.getUint8(at) - 128) / 128;
      else if (bits === 16) v = view.getInt16(at, true) / 32768;
      else if (bits === 24) {
        const x = view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getInt8(at + 2) << 16);
        v = x / 8388608;
      } else v = view.getInt32(at, true) / 2147483648;
      channels[c]![i] = v;
      at += bytesPerSample;
    }
  }
  return channels;
}

/**
 * Writes a WAV file (16-bit PCM with clamping and rounding, or 32-bit float). Any rate, any
 * channel count; all channels must have the same length. Runs on any thread; allocates.
 * @throws {RangeError} when `sampleRateHz` is not a positive integer or channel lengths differ.
 */
export function encodeWav(
  channels: readonly Float32Array[],
  sampleRateHz: number,
  encoding: WavEncoding = 'pcm16',
): Uint8Array {
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0) {
    throw new RangeError(`sampleRateHz must be a positive integer, got ${sampleRateHz}`);
  }
  const channelCount = channels.length;
  if (channelCount < 1) throw new RangeError('channels must hold at least one channel');
  const frames = channels[0]!.length;
  if (channels.some((c) => c.length !== frames)) {
    throw new RangeError('every channel must have the same length');
  }
  const bytesPerSample = encoding === 'pcm16' ? 2 : 4;
  const dataBytes = frames * channelCount * bytesPerSample;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const put = (at: number, s: string): void => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, encoding === 'pcm16' ? 1 : 3, true);
  view.setUint16(22, channelCount, true);
  view.setUint32(24, sampleRateHz, true);
  view.setUint32(28, sampleRateHz * channelCount * bytesPerSample, true);
  view.setUint16(32, channelCount * bytesPerSample, true);
  view.setUint16(34, bytesPerSample * 8, true);
  put(36, 'data');
  view.setUint32(40, dataBytes, true);
  let at = 44;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channelCount; c++) {
      const v = channels[c]![i]!;
      if (encoding === 'float32') view.setFloat32(at, v, true);
      else view.setInt16(at, Math.round(Math.max(-1, Math.min(1, v)) * 32767), true);
      at += bytesPerSample;
    }
  }
  return out;
}
