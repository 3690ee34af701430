import { describe, expect, it } from 'vitest';
import { SampleFifo } from './SampleFifo.js';

describe('SampleFifo', () => {
  it('hands samples out in order across the ring’s wrap, whatever the write and read sizes', () => {
    const fifo = new SampleFifo(1_000); // 1,024 samples
    let written = 0;
    let read = 0;
    let misplaced = 0;
    const src = new Float32Array(700);
    const dst = new Float32Array(128);
    for (let round = 0; round < 200; round++) {
      const n = 61 + ((round * 389) % 640);
      for (let i = 0; i < n; i++) src[i] = written + i;
      if (fifo.length + n > 1_024) {
        while (fifo.length >= 128) {
          fifo.read(dst);
          for (let i = 0; i < 128; i++) if (dst[i] !== read + i) misplaced++;
          read += 128;
        }
      }
      fifo.write(src, n);
      written += n;
    }
    expect(misplaced).toBe(0);
    expect(fifo.length).toBe(written - read);
    expect(read).toBeGreaterThan(50_000);
  });

  it('refuses to overflow or to hand out more than it holds', () => {
    const fifo = new SampleFifo(128);
    fifo.write(new Float32Array(100), 100);
    expect(() => fifo.write(new Float32Array(100), 100)).toThrow(RangeError);
    expect(() => fifo.read(new Float32Array(101))).toThrow(RangeError);
    fifo.clear();
    expect(fifo.length).toBe(0);
  });
});
