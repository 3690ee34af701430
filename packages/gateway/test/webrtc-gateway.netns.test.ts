// WebRTC through the real gateway process: signalling over the gateway socket (SET_MEDIA_PATH,
// WEBRTC_*), the SDK's WebRtcTransport in Node (mediasoup-client over @roamhq/wrtc), a member on
// the WebSocket path in the same room, bad signalling, and a killed mediasoup worker. Runs in a
// loopback-only network namespace (vitest.netns.config.ts).
import { readdirSync, readFileSync } from 'node:fs';
import {
  decodeMediaFrame,
  encodeMediaFrame,
  MediaFlags,
  Op,
  type DispatchMessage,
} from '@concord/protocol';
import { WasmOpusDecoder, WasmOpusEncoder } from '@concord/wasm-dsp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { GatewayConnection } from '../../sdk/src/connection/GatewayConnection.js';
import { WebRtcTransport } from '../../sdk/src/transport/WebRtcTransport.js';
import { mintToken } from '../src/auth/tokens.js';
import {
  freshLoopback,
  httpGet,
  metricValue,
  RawClient,
  startGateway,
  TEST_SECRET,
  type GatewayProcess,
} from './harness.js';
import { ToneListener, ToneSource, tonePower, waitFor } from './sfuHarness.js';

const token = (userId: string): Promise<string> => mintToken(TEST_SECRET, { userId });
const FRAME_SAMPLES = 960;

/** A WebSocket-path member that sends a tone as Opus media frames and decodes what it hears. */
class WsMember {
  heardChunks = 0;
  framesFrom = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private constructor(
    readonly c: RawClient,
    readonly ssrc: number,
    private readonly encoder: WasmOpusEncoder,
    private readonly decoder: WasmOpusDecoder,
  ) {}

  static async join(gw: GatewayProcess, user: string, room: string): Promise<WsMember> {
    const c = await RawClient.identified(gw.url, await token(user), freshLoopback());
    await c.join(room);
    const joined = c.dispatches().find((d) => d.t === 'ROOM_JOINED') as DispatchMessage & {
      t: 'ROOM_JOINED';
    };
    const ssrc = joined.d.participants.find((p) => p.userId === user)!.ssrc;
    return new WsMember(
      c,
      ssrc,
      await WasmOpusEncoder.create({ bitrateBps: 32_000 }),
      await WasmOpusDecoder.create(),
    );
  }

  /** Sends `hz` as 20 ms Opus frames until stopped. */
  sendTone(hz: number): void {
    let seq = 0;
    let next = performance.now();
    const pcm = new Float32Array(FRAME_SAMPLES);
    let phase = 0;
    const tick = (): void => {
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        pcm[i] = 0.3 * Math.sin(phase);
        phase += (2 * Math.PI * hz) / 48_000;
      }
      const payload = this.encoder.encode(pcm);
      this.c.sendRaw(
        encodeMediaFrame(
          {
            ssrc: this.ssrc,
            seq: seq & 0xffff,
            timestamp: (seq * FRAME_SAMPLES) >>> 0,
            flags: MediaFlags.Speech,
            level: 20,
          },
          payload,
        ),
      );
      seq++;
      next += 20;
      this.timer = setTimeout(tick, Math.max(1, next - performance.now()));
    };
    tick();
  }

  /** Counts received frames of `fromSsrc` that decode to a tone at `hz`. */
  listen(fromSsrc: number, hz: number): void {
    const out = new Float32Array(FRAME_SAMPLES * 6);
    this.c.ws.on('message', (data: Buffer) => {
      if (data[0] !== 0x40 || this.stopped) return;
      const f = decodeMediaFrame(new Uint8Array(data));
      if (f.ssrc !== fromSsrc) return;
      this.framesFrom++;
      const n = this.decoder.decode(f.payload, out);
      if (n > 0 && tonePower(out.subarray(0, n), hz) > 1e-4) this.heardChunks++;
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.encoder.destroy();
    this.decoder.destroy();
  }
}

/** A WebRTC member driven through the SDK's GatewayConnection and WebRtcTransport. */
async function webRtcMember(gw: GatewayProcess, user: string, room: string, hz: number) {
  const connection = new GatewayConnection({
    url: gw.url,
    token: await token(user),
    WebSocket: WebSocket as never,
    batchWindowMs: 0,
  });
  await connection.connect();
  const reply = await connection.request((req) => ({ op: Op.JoinRoom, d: { req, room } }));
  const members = new Map<number, string>();
  if (reply.t === 'ROOM_JOINED')
    for (const p of reply.d.participants) members.set(p.ssrc, p.userId);
  const uplinkReports: Array<{ ssrc: number; fractionLost: number; jitterMs: number }> = [];
  connection.on('dispatch', (m) => {
    if (m.t === 'PARTICIPANT_JOINED') members.set(m.d.participant.ssrc, m.d.participant.userId);
    if (m.t === 'RECEIVER_REPORT' && m.d.fromUserId === '') uplinkReports.push(m.d);
  });
  const tone = new ToneSource(hz, 0.3);
  const listeners = new Map<string, ToneListener>();
  const transport = new WebRtcTransport(
    {
      connection,
      localTrack: () => tone.track,
      isMuted: () => false,
      isDeafened: () => false,
      ownerOf: (_room, ssrc) => members.get(ssrc),
      playback: () => ({
        attachTrack: (key, track) => {
          listeners.get(key)?.stop();
          listeners.set(key, new ToneListener(track, [440, 1000]));
          return true;
        },
        detachTrack: (key) => {
          listeners.get(key)?.stop();
          listeners.delete(key);
        },
      }),
      rttMs: () => 1,
    },
    { handlerName: 'Chrome111' },
  );
  const states: string[] = [];
  transport.on('linkState', (_room, s) => states.push(s));
  return { connection, transport, tone, listeners, states, members, uplinkReports };
}

function workerPids(gatewayPid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === gatewayPid && stat.includes('(mediasoup-worke'))
        pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

describe('WebRTC through the gateway (mediasoup SFU, netns)', () => {
  let gw: GatewayProcess;
  const cleanup: Array<() => void> = [];

  beforeAll(async () => {
    gw = await startGateway([
      '--webrtc',
      'on',
      '--webrtc-workers',
      '1',
      '--webrtc-port-min',
      '43000',
      '--webrtc-port-max',
      '43999',
      '--log-level',
      'warn',
    ]);
  });

  afterAll(async () => {
    for (const f of cleanup) f();
    await gw.stop();
  });

  it(
    'a WebRTC member and a WebSocket member in one room hear each other',
    { timeout: 30_000 },
    async () => {
      const ws = await WsMember.join(gw, 'ws-bob', 'mixed');
      const rtc = await webRtcMember(gw, 'rtc-alice', 'mixed', 440);
      cleanup.push(
        () => ws.stop(),
        () => rtc.tone.stop(),
        () => rtc.transport.close(),
      );
      const aliceSsrc = [...rtc.members].find(([, u]) => u === 'rtc-alice')![0];
      ws.listen(aliceSsrc, 440);
      ws.sendTone(1000);
      await rtc.transport.open('mixed');
      await waitFor(() => rtc.states.includes('connected'), 10_000, 'ICE connected');
      // Bob (WebSocket) hears Alice (WebRTC) through the bridge, and the other way round.
      await waitFor(() => ws.heardChunks >= 25, 10_000, 'bob hears alice').catch(
        async (err: unknown) => {
          const { body } = await httpGet(gw, '/metrics');
          console.log(
            'frames from alice',
            ws.framesFrom,
            'heard',
            ws.heardChunks,
            body
              .split('\n')
              .filter((l) => /bridge|dropped|forwarded/.test(l) && !l.startsWith('#'))
              .join('\n'),
          );
          throw err;
        },
      );
      await waitFor(
        () => (rtc.listeners.get('ws-bob')?.count(1000) ?? 0) >= 50,
        10_000,
        'alice hears bob',
      );
      // Not their own voice.
      expect(rtc.listeners.get('ws-bob')!.count(440)).toBe(0);
      // The room was told Alice's voice goes over WebRTC.
      await ws.c.waitFor(
        (m) =>
          m.op === Op.Dispatch &&
          m.t === 'MEDIA_PATH_UPDATE' &&
          m.d.ssrc === aliceSsrc &&
          m.d.webrtc,
      );
      // The SFU tells Alice what it receives of her voice, every second: her ABR's input.
      await waitFor(() => rtc.uplinkReports.length >= 2, 5_000, 'uplink reports');
      expect(rtc.uplinkReports.every((r) => r.ssrc === aliceSsrc)).toBe(true);
      expect(rtc.uplinkReports.at(-1)).toMatchObject({ fractionLost: 0 });
      expect(rtc.uplinkReports.at(-1)!.jitterMs).toBeLessThan(20);
      const { body } = await httpGet(gw, '/metrics');
      expect(metricValue(body, 'concord_webrtc_members')).toBe(1);
      expect(metricValue(body, 'concord_sfu_bridge_frames_in')).toBeGreaterThan(0);
      expect(metricValue(body, 'concord_sfu_bridge_frames_out')).toBeGreaterThan(0);
    },
  );

  it(
    'bad signalling gets a typed REQUEST_ERROR and disturbs nothing else',
    { timeout: 30_000 },
    async () => {
      const mallory = await RawClient.identified(gw.url, await token('mallory'), freshLoopback());
      const victim = await webRtcMember(gw, 'victim', 'target', 440);
      cleanup.push(
        () => mallory.cut(),
        () => victim.tone.stop(),
        () => victim.transport.close(),
      );
      await mallory.join('own');
      await victim.transport.open('target');
      await waitFor(() => victim.states.includes('connected'), 10_000, 'victim connected');
      const errorFor = async (req: number): Promise<string> => {
        const m = await mallory.waitFor(
          (x) => x.op === Op.Dispatch && x.t === 'REQUEST_ERROR' && x.d.req === req,
        );
        return m.op === Op.Dispatch && m.t === 'REQUEST_ERROR' ? m.d.code : '';
      };
      // Not on the WebRTC path yet.
      mallory.send({
        op: Op.WebRtcConnect,
        d: { req: 1, room: 'own', transportId: 'x', dtlsParameters: '{}' },
      });
      expect(await errorFor(1)).toBe('SFU_WRONG_MEDIA_PATH');
      // A room it is not in.
      mallory.send({ op: Op.SetMediaPath, d: { req: 2, room: 'target', path: 'webrtc' } });
      expect(await errorFor(2)).toBe('NOT_IN_ROOM');
      mallory.send({ op: Op.WebRtcConsume, d: { req: 3, room: 'target', rtpCapabilities: '{}' } });
      expect(await errorFor(3)).toBe('NOT_IN_ROOM');
      // Its own room on WebRTC, then someone else's transport and nonsense parameters.
      mallory.send({ op: Op.SetMediaPath, d: { req: 4, room: 'own', path: 'webrtc' } });
      const t = await mallory.waitFor((x) => x.op === Op.Dispatch && x.t === 'WEBRTC_TRANSPORTS');
      const own =
        t.op === Op.Dispatch && t.t === 'WEBRTC_TRANSPORTS'
          ? (JSON.parse(t.d.sendTransport) as { id: string })
          : { id: '' };
      mallory.send({
        op: Op.WebRtcConnect,
        d: {
          req: 5,
          room: 'own',
          transportId: 'no-such-transport',
          dtlsParameters: '{"role":"client","fingerprints":[]}',
        },
      });
      expect(await errorFor(5)).toBe('SFU_UNKNOWN_TRANSPORT');
      mallory.send({
        op: Op.WebRtcConnect,
        d: { req: 6, room: 'own', transportId: own.id, dtlsParameters: 'not json' },
      });
      expect(await errorFor(6)).toBe('INVALID_PARAMETERS');
      mallory.send({
        op: Op.WebRtcConnect,
        d: {
          req: 7,
          room: 'own',
          transportId: own.id,
          dtlsParameters: '{"role":7,"fingerprints":"x"}',
        },
      });
      expect(await errorFor(7)).toBe('SFU_INVALID_PARAMETERS');
      mallory.send({
        op: Op.WebRtcProduce,
        d: { req: 8, room: 'own', transportId: own.id, rtpParameters: '{"codecs":[]}' },
      });
      expect(await errorFor(8)).toBe('SFU_INVALID_PARAMETERS');
      mallory.send({ op: Op.SetMediaPath, d: { req: 9, room: 'own', path: 'carrier-pigeon' } });
      expect(await errorFor(9)).toBe('INVALID_PARAMETERS');
      // Still connected, and the victim's call is untouched.
      mallory.send({ op: Op.Heartbeat, d: { nonce: 1, seq: mallory.lastSeq } });
      await mallory.waitFor((x) => x.op === Op.HeartbeatAck);
      expect(mallory.closeCode).toBeUndefined();
      expect(victim.states).not.toContain('failed');
    },
  );

  it(
    'a killed mediasoup worker is restarted; both sides hear each other again within 2 s',
    { timeout: 40_000 },
    async () => {
      const ws = await WsMember.join(gw, 'ws-carol', 'phoenix');
      const rtc = await webRtcMember(gw, 'rtc-dave', 'phoenix', 440);
      cleanup.push(
        () => ws.stop(),
        () => rtc.tone.stop(),
        () => rtc.transport.close(),
      );
      const daveSsrc = [...rtc.members].find(([, u]) => u === 'rtc-dave')![0];
      ws.listen(daveSsrc, 440);
      ws.sendTone(1000);
      // As the SDK's MediaPathController does: set WebRTC up again after a reset.
      let resetAt = 0;
      rtc.transport.on('reset', (room) => {
        resetAt = performance.now();
        void rtc.transport.open(room);
      });
      await rtc.transport.open('phoenix');
      await waitFor(
        () => (rtc.listeners.get('ws-carol')?.count(1000) ?? 0) >= 25,
        15_000,
        'dave hears carol',
      );
      await waitFor(() => ws.heardChunks >= 25, 10_000, 'carol hears dave');
      const pids = workerPids(gw.child.pid!);
      expect(pids).toHaveLength(1);
      process.kill(pids[0]!, 'SIGKILL');
      await waitFor(() => resetAt > 0, 10_000, 'WEBRTC_RESET');
      const heardBefore = ws.heardChunks;
      await waitFor(() => ws.heardChunks >= heardBefore + 10, 10_000, 'carol hears dave again');
      const carolBackMs = performance.now() - resetAt;
      await waitFor(
        () => (rtc.listeners.get('ws-carol')?.count(1000) ?? 0) >= 10,
        10_000,
        'dave hears carol again',
      );
      const daveBackMs = performance.now() - resetAt;
      expect(carolBackMs).toBeLessThan(2_000 + 200); // 10 frames = 200 ms of audio heard
      expect(daveBackMs).toBeLessThan(2_000 + 100);
      const { body } = await httpGet(gw, '/metrics');
      expect(metricValue(body, 'concord_sfu_worker_deaths_total')).toBe(1);
      expect(metricValue(body, 'concord_sfu_worker_restarts')).toBe(1);
      expect(gw.logs.some((l) => l.includes('mediasoup worker died'))).toBe(true);
    },
  );
});
