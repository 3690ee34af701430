import { describe, expect, it } from 'vitest';
import { DspError } from '../src/DspError.js';
import { Fft } from '../src/Fft.js';
import { ReferenceFft } from '../src/reference/fft.js';
import { fftInPlace, whiteNoise } from '@concord/testing';

const SIZES = [16, 32, 64, 256, 1024, 4096];

describe('Fft (WASM SIMD real FFT)', () => {
  it.each(SIZES)(
    'size %i: forward spectrum equals the scalar reference within 1e-5 relative',
    async (size) => {
      const fft = await Fft.create({ size });
      const reference = new ReferenceFft(size);
      const x = whiteNoise(size, size);
      fft.time.set(x);
      fft.forward();
      const re = new Float32Array(reference.bins);
      const im = new Float32Array(reference.bins);
      reference.forward(x, re, im);
      let err = 0;
      let norm = 0;
      for (let k = 0; k < reference.bins; k++) {
        err += (fft.re[k]! - re[k]!) ** 2 + (fft.im[k]! - im[k]!) ** 2;
        norm += re[k]! ** 2 + im[k]! ** 2;
      }
      expect(Math.sqrt(err / norm)).toBeLessThan(1e-5);
    },
  );

  it.each(SIZES)('size %i: matches a double-precision DFT and round-trips', async (size) => {
    const fft = await Fft.create({ size });
    const x = whiteNoise(size, 7 + size);
    fft.time.set(x);
    fft.forward();
    const dr = Float64Array.from(x);
    const di = new Float64Array(size);
    fftInPlace(dr, di);
    let err = 0;
    let norm = 0;
    for (let k = 0; k < fft.bins; k++) {
      err += (fft.re[k]! - dr[k]!) ** 2 + (fft.im[k]! - di[k]!) ** 2;
      norm += dr[k]! ** 2 + di[k]! ** 2;
    }
    expect(Math.sqrt(err / norm)).toBeLessThan(1e-5);
    fft.inverse();
    let rt = 0;
    for (let i = 0; i < size; i++) rt = Math.max(rt, Math.abs(fft.time[i]! - x[i]!));
    expect(rt).toBeLessThan(1e-5);
  });

  it('the scalar reference round-trips too', () => {
    const reference = new ReferenceFft(512);
    const x = whiteNoise(512, 3);
    const re = new Float32Array(reference.bins);
    const im = new Float32Array(reference.bins);
    const y = new Float32Array(512);
    reference.forward(x, re, im);
    reference.inverse(re, im, y);
    for (let i = 0; i < 512; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThan(1e-5);
  });

  it('rejects sizes that are not powers of two in [16, 65536]', async () => {
    await expect(Fft.create({ size: 1000 })).rejects.toThrow(RangeError);
    await expect(Fft.create({ size: 8 })).rejects.toThrow(/size/);
    expect(() => new ReferenceFft(48)).toThrow(RangeError);
  });

  it('destroy() is idempotent and later calls throw DspError', async () => {
    const fft = await Fft.create();
    fft.destroy();
    fft.destroy();
    expect(() => fft.forward()).toThrow(DspError);
    expect(() => fft.inverse()).toThrow(/destroyed/);
  });
});
