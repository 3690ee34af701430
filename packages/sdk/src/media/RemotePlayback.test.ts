import { SampleRing, type PlaybackCommand } from '@concord/audio-worklet';
import { describe, expect, it } from 'vitest';
import { getAudioDiagnostics } from './diagnostics.js';
import { RemotePlayback } from './RemotePlayback.js';

// A stand-in for the AudioWorkletNode: records what the main thread posts to the processor.
function fakeNode() {
  const posted: PlaybackCommand[] = [];
  const node = {
    port: {
      postMessage: (m: PlaybackCommand) => posted.push(m),
      addEventListener: () => undefined,
      close: () => undefined,
    },
    disconnect: () => undefined,
  };
  return { node: node as unknown as AudioWorkletNode, posted };
}

describe('RemotePlayback', () => {
  it('gives each participant its own slot and a shared-memory ring when isolated', () => {
    const { node, posted } = fakeNode();
    const playback = new RemotePlayback(node, 2, true);
    expect(playback.attach('alice')).toBe(true);
    expect(playback.attach('alice')).toBe(true);
    expect(playback.attach('bob')).toBe(true);
    expect(playback.attach('carol')).toBe(false); // both slots taken
    const streams = posted.filter((m) => m.type === 'setStream');
    expect(streams.map((m) => m.type === 'setStream' && m.slot)).toEqual([0, 1]);
    expect(
      streams.every((m) => m.type === 'setStream' && m.ring?.data instanceof SharedArrayBuffer),
    ).toBe(true);
    playback.detach('alice');
    expect(playback.attach('carol')).toBe(true);
    expect(playback.attached.sort()).toEqual(['bob', 'carol']);
  });

  it('pushes frames into the ring (isolated) or as transferred copies (not isolated)', () => {
    const shared = new RemotePlayback(fakeNode().node, 4, true);
    const frame = new Float32Array(960).fill(0.25);
    let accepted = 0;
    while (shared.pushFrame('alice', frame)) accepted++;
    expect(accepted).toBe(25); // 25 frames of buffer per voice, then frames are refused
    const { node, posted } = fakeNode();
    const copies = new RemotePlayback(node, 4, false);
    expect(copies.pushFrame('bob', frame)).toBe(true);
    const push = posted.find((m) => m.type === 'push');
    expect(push?.type === 'push' && push.samples).not.toBe(frame);
    expect(push?.type === 'push' && push.samples[0]).toBe(0.25);
  });

  it('pushes whole frames or nothing while the audio thread drains per quantum; reports the queue', () => {
    const { node, posted } = fakeNode();
    const playback = new RemotePlayback(node, 4, true);
    const frame = new Float32Array(960).fill(0.5);
    expect(playback.bufferedSamples('alice')).toBe(0); // no slot yet: nothing queued
    while (playback.pushFrame('alice', frame));
    const set = posted.find((m) => m.type === 'setStream');
    const audioSide = new SampleRing(
      set?.type === 'setStream' ? set.ring! : SampleRing.allocate(1).handle,
    );
    const quantum = new Float32Array(128);
    audioSide.pull(quantum); // one render quantum played: 128 samples free, not a frame
    expect(playback.bufferedSamples('alice')).toBe(25 * 960 - 128);
    expect(playback.pushFrame('alice', frame)).toBe(false);
    expect(playback.bufferedSamples('alice')).toBe(25 * 960 - 128); // nothing partial written
    expect(playback.bufferedFrames('alice')).toBe(24);
    for (let q = 0; q < 7; q++) audioSide.pull(quantum); // 1,024 samples free now
    expect(playback.pushFrame('alice', frame)).toBe(true);
    expect(playback.bufferedSamples('alice')).toBe(25 * 960 - 1_024 + 960);
    // Without shared memory the queue lives on the audio thread: unknown here.
    expect(new RemotePlayback(fakeNode().node, 4, false).bufferedSamples('bob')).toBeUndefined();
  });

  it('validates frames and volumes, and posts gains', () => {
    const { node, posted } = fakeNode();
    const playback = new RemotePlayback(node, 4, true);
    expect(() => playback.pushFrame('a', new Float32Array(961))).toThrow(RangeError);
    expect(() => playback.pushFrame('a', new Float32Array(0))).toThrow(RangeError);
    expect(playback.pushFrame('a', new Float32Array(480))).toBe(true);
    expect(playback.bufferedSamples('a')).toBe(480);
    expect(() => playback.setVolume('a', 2.1)).toThrow(RangeError);
    expect(() => playback.setVolume('a', Number.NaN)).toThrow(RangeError);
    playback.setVolume('a', 1.5);
    expect(playback.volumeOf('a')).toBe(1.5);
    expect(posted.at(-1)).toEqual({ type: 'setGain', slot: 0, gain: 1.5 });
  });

  it('destroy() tells the processor, releases the node once and refuses new voices', () => {
    const before = getAudioDiagnostics().workletNodes;
    const { node, posted } = fakeNode();
    const playback = new RemotePlayback(node, 4, true);
    expect(getAudioDiagnostics().workletNodes).toBe(before + 1);
    playback.destroy();
    playback.destroy();
    expect(posted.filter((m) => m.type === 'destroy')).toHaveLength(1);
    expect(getAudioDiagnostics().workletNodes).toBe(before);
    expect(playback.attach('late')).toBe(false);
  });

  describe('spatial placement', () => {
    const placement = { azimuthRad: 1, elevationRad: 0.25, distanceM: 4, gain: 0.25 };

    it('applies a placement remembered before the voice had a slot: direction and volume × proximity gain', () => {
      const { node, posted } = fakeNode();
      const playback = new RemotePlayback(node, 4, true);
      playback.setPlacement('alice', placement);
      expect(posted).toEqual([]);
      playback.attach('alice');
      expect(posted).toContainEqual({ type: 'setGain', slot: 0, gain: 0.25 });
      expect(posted).toContainEqual({
        type: 'setDirection',
        slot: 0,
        azimuthRad: 1,
        elevationRad: 0.25,
      });
      posted.length = 0;
      playback.setVolume('alice', 2);
      expect(posted).toContainEqual({ type: 'setGain', slot: 0, gain: 0.5 });
    });

    it('centres the voice at its plain volume when the placement is cleared', () => {
      const { node, posted } = fakeNode();
      const playback = new RemotePlayback(node, 4, true);
      playback.attach('bob');
      playback.setVolume('bob', 1.5);
      playback.setPlacement('bob', placement);
      posted.length = 0;
      playback.setPlacement('bob', undefined);
      expect(posted).toEqual([
        { type: 'setGain', slot: 0, gain: 1.5 },
        { type: 'clearDirection', slot: 0 },
      ]);
      expect(playback.placementOf('bob')).toBeUndefined();
    });

    it('posts the render mode to the processor', () => {
      const { node, posted } = fakeNode();
      new RemotePlayback(node, 2, false).setRenderMode('binaural');
      expect(posted).toEqual([{ type: 'setRenderMode', mode: 'binaural' }]);
    });
  });
});
