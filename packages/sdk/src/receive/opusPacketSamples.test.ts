import { opusPacketSamples } from '@concord/protocol';
import { WasmOpusEncoder } from '@concord/wasm-dsp';
import { describe, expect, it } from 'vitest';

describe('opusPacketSamples on the packets Concord sends', () => {
  it('agrees with libopus: 10 and 20 ms packets of the real encoder', async () => {
    const enc = await WasmOpusEncoder.create({ frameMs: 10 });
    const tone = (n: number): Float32Array =>
      Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 48_000));
    expect(opusPacketSamples(enc.encode(tone(480)))).toBe(480);
    enc.configure({ frameMs: 20 });
    expect(opusPacketSamples(enc.encode(tone(960)))).toBe(960);
    enc.destroy();
  });
});
