import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Agc } from '../src/Agc.js';
import { Mixer } from '../src/Mixer.js';
import { Resampler } from '../src/Resampler.js';
import { Spatializer } from '../src/Spatializer.js';
import { VoiceActivityDetector } from '../src/VoiceActivityDetector.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function externalMb(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return (m.arrayBuffers + m.external) / 2 ** 20;
}

const kernels: [string, () => Promise<{ destroy(): void }>, (k: never) => void][] = [
  ['Mixer', () => Mixer.create({ maxStreams: 8 }), (m: Mixer) => void m.process(8)],
  [
    'Resampler',
    () => Resampler.create({ inRateHz: 44_100, outRateHz: 48_000 }),
    (r: Resampler) => void r.process(882),
  ],
  [
    'VoiceActivityDetector',
    () => VoiceActivityDetector.create(),
    (v: VoiceActivityDetector) => v.process(),
  ],
  ['Agc', () => Agc.create(), (a: Agc) => void a.process()],
  [
    'Spatializer',
    () => Spatializer.create({ maxVoices: 16 }),
    (s: Spatializer) => {
      s.setDirection(3, 1);
      s.process(16);
    },
  ],
];

describe('kernel lifecycle', () => {
  for (const [name, create, use] of kernels) {
    it(`creating and destroying a ${name} 1,000 times leaves memory flat`, async () => {
      for (let i = 0; i < 50; i++) (await create()).destroy();
      const before = externalMb();
      for (let i = 0; i < 1000; i++) {
        const k = await create();
        use(k as never);
        k.destroy();
      }
      const grown = externalMb() - before;
      // Each instance owns ≥ 64 KiB of wasm memory: a leak of all 1,000 would be ≥ 62 MiB.
      expect(grown).toBeLessThan(8);
    });
  }
});
