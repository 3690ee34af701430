import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav } from '@concord/wasm-dsp';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ParticipantRecorder } from './ParticipantRecorder.js';
import { readWavFile } from './wavFiles.js';

const dir = mkdtempSync(join(tmpdir(), 'concord-recorder-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frame = (value: number) => new Float32Array(960).fill(value);

describe('ParticipantRecorder', () => {
  it('keeps each participant apart, in order, copying each frame', () => {
    let nowMs = 0;
    const rec = new ParticipantRecorder({ now: () => nowMs });
    const shared = frame(0.25);
    rec.pushFrame('ann', shared);
    shared.fill(0.5); // the receiver reuses its buffer: the recorder must have copied
    nowMs += 20;
    rec.pushFrame('bob', frame(-0.5));
    rec.pushFrame('ann', frame(0.75));
    expect(rec.userIds.sort()).toEqual(['ann', 'bob']);
    const ann = rec.samples('ann');
    expect(ann.length).toBe(1_920);
    expect([ann[0], ann[959], ann[960]]).toEqual([0.25, 0.25, 0.75]);
    expect(rec.durationSeconds('bob')).toBeCloseTo(0.02, 6);
    expect(rec.samples('nobody').length).toBe(0);
  });

  it('fills a pause in a stream with silence so the recording keeps real time', () => {
    let nowMs = 0;
    const rec = new ParticipantRecorder({ now: () => nowMs });
    rec.pushFrame('ann', frame(0.5));
    nowMs = 1_000; // the stream went idle and came back a second later
    rec.pushFrame('ann', frame(0.5));
    // 20 ms + 980 ms of silence (49 frames) + 20 ms.
    expect(rec.durationSeconds('ann')).toBeCloseTo(1.02, 6);
    const x = rec.samples('ann');
    expect(x[960]).toBe(0);
    expect(x[x.length - 1]).toBe(0.5);
  });

  it('records 10 ms frames arriving with timer jitter without inserting silence', () => {
    let nowMs = 0;
    const rec = new ParticipantRecorder({ now: () => nowMs });
    for (let i = 0; i < 100; i++) {
      nowMs = i * 10 + (i % 3 === 0 ? 25 : 0); // every third frame 25 ms late
      rec.pushFrame('ann', new Float32Array(480).fill(0.5));
    }
    expect(rec.durationSeconds('ann')).toBeCloseTo(1, 6);
    expect(rec.samples('ann').every((v) => v === 0.5)).toBe(true);
  });

  it('drops the oldest audio beyond maxSeconds', () => {
    let nowMs = 0;
    const rec = new ParticipantRecorder({ maxSeconds: 1, now: () => nowMs });
    for (let i = 0; i < 75; i++, nowMs += 20) rec.pushFrame('ann', frame(i / 100));
    expect(rec.durationSeconds('ann')).toBeLessThanOrEqual(1);
    expect(rec.durationSeconds('ann')).toBeGreaterThan(0.97);
    expect(rec.samples('ann').at(-1)).toBeCloseTo(0.74, 6);
    expect(() => new ParticipantRecorder({ maxSeconds: 0 })).toThrow(/maxSeconds/);
  });

  it('writes one 48 kHz WAV per participant that reads back as recorded', async () => {
    let nowMs = 0;
    const rec = new ParticipantRecorder({ now: () => nowMs });
    for (let i = 0; i < 10; i++, nowMs += 20) {
      rec.pushFrame('ann', frame(0.5));
      rec.pushFrame('bob/2', frame(-0.25));
    }
    const paths = rec.writeWavFiles(join(dir, 'out'));
    expect(paths.map((p) => p.slice(dir.length))).toEqual(['/out/ann.wav', '/out/bob_2.wav']);
    const ann = await readWavFile(paths[0]!);
    expect(ann.length).toBe(9_600);
    expect(ann[100]).toBeCloseTo(0.5, 3);
  });
});

describe('readWavFile', () => {
  it('averages channels and resamples to 48 kHz', async () => {
    const left = new Float32Array(22_050).fill(0.5);
    const right = new Float32Array(22_050).fill(0.1);
    const path = join(dir, 'stereo.wav');
    writeFileSync(path, encodeWav([left, right], 44_100, 'float32'));
    const x = await readWavFile(path);
    expect(x.length).toBe(24_000);
    expect(x[12_000]).toBeCloseTo(0.3, 3);
  });

  it('names the problem for a file that is not a WAV', async () => {
    const path = join(dir, 'not.wav');
    writeFileSync(path, 'hello');
    await expect(readWavFile(path)).rejects.toThrow(/WAV|RIFF/i);
  });
});
