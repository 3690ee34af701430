// Two VoiceClients in one room on a real gateway process hear each other: alice's sender is fed
// a 1 kHz tone, bob's receiver decodes it into a fake playback sink; bob's receiver reports
// reach alice and her adaptive bitrate reacts to loss injected on bob's side.
import type { MediaFrame } from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../../gateway/test/harness.js';
import { VoiceClient, type AbrDecision, type CapturedFrame } from '../src/index.js';
import type { FrameSource } from '../src/send/VoiceSender.js';
import type { PlaybackSink } from '../src/receive/VoiceReceiver.js';
import { delay, NodeWebSocket, waitFor } from './helpers.js';

const SAMPLE_RATE_HZ = 48_000;
const FRAME_SAMPLES = 960;
const TONE_HZ = 1_000;
const AMPLITUDE = 0.3;

/** A LocalAudio stand-in: the test pushes frames. */
class FakeFrameSource implements FrameSource {
  private readonly listeners = new Set<(f: CapturedFrame) => void>();
  onFrame(listener: (f: CapturedFrame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(frame: CapturedFrame): void {
    for (const l of this.listeners) l(frame);
  }
}

/** A RemotePlayback stand-in that keeps every frame per user. */
class FakeSink implements PlaybackSink {
  readonly frames = new Map<string, Float32Array[]>();
  pushFrame(key: string, samples: Float32Array): boolean {
    let list = this.frames.get(key);
    if (!list) this.frames.set(key, (list = []));
    list.push(samples.slice());
    return true;
  }
}

function toneFrame(index: number): CapturedFrame {
  const samples = new Float32Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    const n = index * FRAME_SAMPLES + i;
    samples[i] = AMPLITUDE * Math.sin((2 * Math.PI * TONE_HZ * n) / SAMPLE_RATE_HZ);
  }
  const rms = AMPLITUDE / Math.SQRT2;
  return {
    samples,
    meta: { seq: index, levelDbfs: 20 * Math.log10(rms), speechProbability: 0.9, flags: 1 },
  };
}

/** Frequency by zero crossings, RMS, and SNR of a least-squares sine fit at `hz`. */
function analyse(x: Float32Array, hz: number): { freqHz: number; rms: number; snrDb: number } {
  let crossings = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1]! < 0 !== x[i]! < 0) crossings++;
  const freqHz = crossings / 2 / (x.length / SAMPLE_RATE_HZ);
  let ss = 0;
  let cc = 0;
  let sc = 0;
  let xs = 0;
  let xc = 0;
  let energy = 0;
  for (let i = 0; i < x.length; i++) {
    const w = (2 * Math.PI * hz * i) / SAMPLE_RATE_HZ;
    const s = Math.sin(w);
    const c = Math.cos(w);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    xs += x[i]! * s;
    xc += x[i]! * c;
    energy += x[i]! * x[i]!;
  }
  const det = ss * cc - sc * sc;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  let residual = 0;
  for (let i = 0; i < x.length; i++) {
    const w = (2 * Math.PI * hz * i) / SAMPLE_RATE_HZ;
    const e = x[i]! - a * Math.sin(w) - b * Math.cos(w);
    residual += e * e;
  }
  return {
    freqHz,
    rms: Math.sqrt(energy / x.length),
    snrDb: 10 * Math.log10((energy - residual) / residual),
  };
}

describe('media path (real gateway)', () => {
  let gw: GatewayProcess;
  const clients: VoiceClient[] = [];
  let feeding = true;

  beforeAll(async () => {
    gw = await startGateway(['--insecure-dev-auth', '--batch-window-ms', '2']);
  });

  afterAll(async () => {
    feeding = false;
    for (const c of clients) await c.disconnect();
    expect(await gw.stop()).toBe(0);
  });

  it('bob hears alice’s 1 kHz tone, reports reach alice and her bitrate follows the loss', async () => {
    const source = new FakeFrameSource();
    const sinkB = new FakeSink();
    let dropping = false;
    const dropIncoming = (f: MediaFrame): boolean => dropping && f.seq % 5 === 0; // 20 % loss
    const alice = new VoiceClient({
      url: gw.url,
      token: 'dev:alice:Alice',
      WebSocket: NodeWebSocket,
      media: {
        frameSource: source,
        playbackSink: new FakeSink(),
        // A stricter down threshold so 20 % loss on loopback (score ≈ 0.6) steps down.
        abr: { downThreshold: 0.7 },
      },
    });
    const bob = new VoiceClient({
      url: gw.url,
      token: 'dev:bob:Bob',
      WebSocket: NodeWebSocket,
      media: {
        frameSource: new FakeFrameSource(),
        playbackSink: sinkB,
        dropIncoming,
        reportIntervalMs: 500,
      },
    });
    clients.push(alice, bob);
    await Promise.all([alice.connect(), bob.connect()]);
    const roomA = await alice.join('media');
    const roomB = await bob.join('media');
    await waitFor(() => roomA.remoteParticipants.length === 1, 'alice sees bob');
    await waitFor(
      () => alice.media.status === 'running' && bob.media.status === 'running',
      'media running',
    );
    expect(roomB.participants.get('alice')!.ssrc).toBe(roomA.localParticipant.ssrc);

    const bitrates: number[] = [];
    alice.on('bitrateChanged', (bps) => bitrates.push(bps));
    const decisions: AbrDecision[] = [];
    alice.media.sender!.on('decision', (d) => decisions.push(d));

    // Drift-free 20 ms feed, as the capture worklet would deliver frames.
    let index = 0;
    const start = performance.now();
    void (async () => {
      while (feeding) {
        source.emit(toneFrame(index++));
        await delay(Math.max(1, start + index * 20 - performance.now()));
      }
    })();

    // 1. Bob decodes the tone.
    await waitFor(() => (sinkB.frames.get('alice')?.length ?? 0) >= 150, 'bob plays alice', 5_000);
    const played = sinkB.frames.get('alice')!.slice(-100); // the last second, in 10 ms frames
    expect(played.every((f) => f.length === FRAME_SAMPLES / 2)).toBe(true);
    const pcm = new Float32Array(played.length * played[0]!.length);
    played.forEach((f, i) => pcm.set(f, i * f.length));
    const a = analyse(pcm, TONE_HZ);
    // SNR per 10 ms frame (segmental): the jitter buffer's delay corrections insert or drop whole
    // frames, which shift the tone's phase between frames but are not noise.
    const snrs = played.map((f) => analyse(f, TONE_HZ).snrDb).sort((x, y) => x - y);
    const medianSnrDb = snrs[snrs.length >> 1]!;
    const goodShare = snrs.filter((v) => v > 20).length / snrs.length;
    console.log(
      `decoded tone: ${a.freqHz.toFixed(1)} Hz, rms ${a.rms.toFixed(4)}, ` +
        `median frame SNR ${medianSnrDb.toFixed(1)} dB, ${(goodShare * 100).toFixed(0)} % of frames > 20 dB`,
    );
    expect(Math.abs(a.freqHz - TONE_HZ)).toBeLessThan(10);
    expect(20 * Math.log10(a.rms / (AMPLITUDE / Math.SQRT2))).toBeGreaterThan(-1.5);
    expect(20 * Math.log10(a.rms / (AMPLITUDE / Math.SQRT2))).toBeLessThan(1.5);
    expect(medianSnrDb).toBeGreaterThan(30);
    expect(goodShare).toBeGreaterThan(0.9);
    const statsB = bob.getStats().participants['alice']!;
    expect(statsB.timeStretch).toBe(true); // the tsm kernel is wired into bob's jitter buffer
    expect(statsB.lossPct).toBe(0);
    expect(statsB.concealed).toBe(0);

    // 2. Bob's reports reach alice: a clean network climbs to the top of the ladder.
    await waitFor(() => alice.getStats().bitrateBps === 128_000, 'bitrate at the top', 6_000);
    expect(alice.getStats().fec).toBe(false);
    expect(alice.getStats().sender!.sample!.lossPct).toBe(0);

    // 3. 20 % loss on bob's side: FEC on, expected loss up, bitrate steps down.
    dropping = true;
    const lossAt = performance.now();
    await waitFor(() => alice.getStats().fec, 'FEC on', 5_000);
    const fecMs = performance.now() - lossAt;
    await waitFor(() => alice.getStats().bitrateBps < 128_000, 'step down', 5_000);
    const downMs = performance.now() - lossAt;
    expect(alice.getStats().expectedLossPct).toBeGreaterThanOrEqual(15);
    await waitFor(
      () => (bob.getStats().participants['alice']?.fecRecovered ?? 0) > 5,
      'bob recovers lost frames from FEC',
      5_000,
    );
    const lossy = bob.getStats().participants['alice']!;
    expect(lossy.lossPct).toBeGreaterThan(5); // 20 % over part of a 5 s window
    expect(roomB.participants.get('alice')!.connectionQuality).not.toBe('excellent');

    // 4. The loss stops: FEC off and back at the top.
    dropping = false;
    const clearAt = performance.now();
    await waitFor(() => alice.getStats().bitrateBps === 128_000, 'recovered', 8_000);
    const upMs = performance.now() - clearAt;
    await waitFor(() => !alice.getStats().fec, 'FEC off', 5_000);
    console.log(
      `ABR: FEC on ${fecMs.toFixed(0)} ms and first step down ${downMs.toFixed(0)} ms after 20 % loss began; ` +
        `back at 128 kbit/s ${upMs.toFixed(0)} ms after it stopped; ladder ${bitrates.join(' → ')}; ` +
        `encode ${alice.getStats().sender!.encodeUsMean.toFixed(0)} µs/frame; ` +
        `bob fecRecovered ${lossy.fecRecovered}, concealed ${lossy.concealed}`,
    );
    expect(decisions.length).toBeGreaterThan(5);
    feeding = false;
  });
});
