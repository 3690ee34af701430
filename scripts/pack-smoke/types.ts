// Type-checked in the blank project against the installed tarballs (tsc --noEmit, once with
// moduleResolution NodeNext and once with Bundler): every public entry has declarations.
import type { CloseCode as WireCloseCode, FrameCodec } from '@concord/protocol';
import { VoiceClient, type Room, type VoiceClientOptions } from '@concord/sdk';
import { VoiceClient as BrowserVoiceClient } from '@concord/sdk/browser';
import { ParticipantRecorder, PcmSource, readWavFile } from '@concord/sdk/node';
import { mintToken, type GatewayConfig } from '@concord/gateway';
import { chromiumLaunchOptions, judgeTone, whiteNoise } from '@concord/testing';
import { expect as qaExpect, test as qaTest, type VoicePages } from '@concord/testing/playwright';
import { SAMPLE_RATE_HZ, type CaptureChain } from '@concord/wasm-dsp';
import type { CaptureEngine } from '@concord/audio-worklet';
import type {} from '@concord/audio-worklet/processors';

const options: VoiceClientOptions = { url: 'ws://127.0.0.1:8080/gateway', token: 'dev:alice' };
export const client: VoiceClient = new VoiceClient(options);
export const browserClient: BrowserVoiceClient = new BrowserVoiceClient(options);
export const joined: Promise<Room> = client.join('lobby');
export const token: Promise<string> = mintToken('x'.repeat(32), { userId: 'alice' });
export const port: GatewayConfig['port'] = 8080;
export const args: string[] | undefined = chromiumLaunchOptions().args;
export const noise: Float32Array = whiteNoise(960, 1);
export const heard: boolean = judgeTone(
  { samples: noise, sampleRateHz: 48_000, startMs: 0 },
  1_000,
).heard;
export const qa = { qaExpect, qaTest };
export type Pages = VoicePages;
export const rate: number = SAMPLE_RATE_HZ;
export const source: PcmSource = new PcmSource();
export const recorder: ParticipantRecorder = new ParticipantRecorder({ maxSeconds: 60 });
export const voice: Promise<Float32Array> = readWavFile('hello.wav');
export type Chain = CaptureChain;
export type Engine = CaptureEngine;
export type Codec = FrameCodec;
export type Close = WireCloseCode;
