// WebRTC calls over an impaired network. A dedicated gateway announces its SFU at 127.0.0.2 and
// listens on 127.0.0.1; the QA kit's UdpImpairmentProxy holds 127.0.0.2 on the SFU's ports and
// forwards every datagram (STUN, DTLS, RTP, RTCP; both directions), dropping and delaying them
// as netem would (this kernel has no netem). Alice plays 1 kHz bursts (100 ms every 500 ms),
// bob plays 1.5 kHz bursts; what a page hears is its playback output.
import { expect, test } from '@playwright/test';
import { UdpImpairmentProxy } from '@concord/testing';
import { note } from './support/note.js';
import {
  burstWav,
  harness,
  joinVoice,
  launchVoicePage,
  STAGES_TONES,
  type VoiceTake,
} from './support/voice.js';
import {
  close,
  expectHears,
  FREQ_A,
  FREQ_B,
  outputBursts,
  record,
  transportEvents,
  webrtcConnected,
} from './support/webrtc.js';
import { startGateway, type GatewayProcess } from '../packages/gateway/test/harness.js';

const PORTS = { min: 46_000, max: 46_019 };

interface Stats {
  bitrateBps: number;
  score: number;
}

async function impairedGateway(): Promise<{ gw: GatewayProcess; proxy: UdpImpairmentProxy }> {
  const proxy = await UdpImpairmentProxy.start({
    listenHost: '127.0.0.2',
    targetHost: '127.0.0.1',
    ports: PORTS,
  });
  try {
    const gw = await startGateway([
      '--insecure-dev-auth',
      '--webrtc',
      'on',
      '--webrtc-udp-only',
      '--webrtc-workers',
      '1',
      '--webrtc-listen-ip',
      '127.0.0.1',
      '--webrtc-announced-ip',
      '127.0.0.2',
      '--webrtc-port-min',
      String(PORTS.min),
      '--webrtc-port-max',
      String(PORTS.max),
      '--static',
      '/sdk/=packages/sdk/dist',
      '--static',
      '/e2e/=e2e/pages',
    ]);
    return { gw, proxy };
  } catch (err) {
    await proxy.close();
    throw err;
  }
}

test('5 % loss and 30 ms jitter on the WebRTC path: audio continues, the ABR steps down and is back at the top after', async () => {
  test.setTimeout(120_000);
  const { gw, proxy } = await impairedGateway();
  const base = `http://127.0.0.1:${gw.port}`;
  const a = await launchVoicePage(burstWav('net-a-1000', FREQ_A), [], base);
  const b = await launchVoicePage(burstWav('net-b-1500', FREQ_B), [], base);
  try {
    const room = `net-${Date.now()}`;
    const opts = { media: { path: 'webrtc' }, tapOutput: true, recordOutput: true };
    await joinVoice(a, 'alice', room, STAGES_TONES, opts);
    await joinVoice(b, 'bob', room, STAGES_TONES, opts);
    await Promise.all([webrtcConnected(a.page), webrtcConnected(b.page)]);
    // Calm network first: the ABR settles at its top rung.
    await record(b.page, 3);
    const top = (await harness<Stats>(a.page, 'stats')).bitrateBps;
    note('before', { bitrateBps: top });

    // netem's `delay 30ms 30ms loss 5%`, both directions.
    proxy.impair({ lossPct: 5, delayMs: 30, jitterMs: 30, seed: 1 });
    await harness(b.page, 'reset');
    const samples: Stats[] = [];
    const poll = setInterval(() => {
      void harness<Stats>(a.page, 'stats')
        .then((s) => samples.push(s))
        .catch(() => undefined);
    }, 250);
    let take: VoiceTake;
    try {
      await expect
        .poll(() => harness<number>(b.page, 'outputSeconds'), { timeout: 30_000 })
        .toBeGreaterThanOrEqual(10);
      take = await harness<VoiceTake>(b.page, 'take');
    } finally {
      clearInterval(poll);
    }
    const dropped = proxy.stats.dropped;
    proxy.impair(undefined);
    const clearedAt = Date.now();

    // Audio continues: bob hears alice's bursts at her period through the impairment.
    note('impaired.bobHearsAlice', expectHears(take, FREQ_A, FREQ_B, 'bob (impaired)'));
    const heard = outputBursts(take, [FREQ_A, FREQ_B]).filter((x) => x.amplitudes[0]! > 0.02);
    // 10 s of 500 ms periods: 20 bursts; a few may be lost whole or cut at the edges.
    expect(heard.length).toBeGreaterThanOrEqual(16);
    expect(dropped).toBeGreaterThan(0);

    // The ABR steps down while impaired.
    const minBps = Math.min(...samples.map((s) => s.bitrateBps));
    const scores = samples.map((s) => s.score).sort((p, q) => p - q);
    note('abr.impaired', {
      topBps: top,
      minBps,
      scoreMin: scores[0],
      scoreMedian: scores[Math.floor(scores.length / 2)],
      proxyDropped: dropped,
    });
    expect(minBps).toBeLessThan(top);

    // And is back at the top after the impairment ends.
    await expect
      .poll(async () => (await harness<Stats>(a.page, 'stats')).bitrateBps, {
        timeout: 10_000,
        intervals: [100],
      })
      .toBe(top);
    const recoveredMs = Date.now() - clearedAt;
    note('abr.recoveredAfterMs (goal <= 2000)', recoveredMs);
    expect(recoveredMs).toBeLessThanOrEqual(2_000);
  } finally {
    await close(a, b);
    await proxy.close();
    await gw.stop();
  }
});

test('UDP stops mid-call: auto moves to the WebSocket path in place and the voice comes back', async () => {
  test.setTimeout(120_000);
  const { gw, proxy } = await impairedGateway();
  const base = `http://127.0.0.1:${gw.port}`;
  const a = await launchVoicePage(burstWav('stop-a-1000', FREQ_A), [], base);
  const b = await launchVoicePage(burstWav('stop-b-1500', FREQ_B), [], base);
  try {
    const room = `stop-${Date.now()}`;
    const opts = { media: { path: 'auto' }, tapOutput: true, recordOutput: true };
    await joinVoice(a, 'alice', room, STAGES_TONES, opts);
    await joinVoice(b, 'bob', room, STAGES_TONES, opts);
    await Promise.all([webrtcConnected(a.page), webrtcConnected(b.page)]);
    await Promise.all([record(a.page, 2), record(b.page, 2)]);
    await Promise.all([harness(a.page, 'reset'), harness(b.page, 'reset')]);
    const stoppedAt = Date.now();
    proxy.impair({ blackhole: true });
    // Both pages leave WebRTC for the WebSocket path, in the same room (no rejoin).
    const movedAt = async (page: typeof a.page) => {
      await expect
        .poll(async () => (await transportEvents(page)).some((e) => e.path === 'websocket'), {
          timeout: 20_000,
        })
        .toBe(true);
      const e = (await transportEvents(page)).find((x) => x.path === 'websocket')!;
      return { afterMs: e.t - stoppedAt, reason: e.reason };
    };
    const [aMoved, bMoved] = await Promise.all([movedAt(a.page), movedAt(b.page)]);
    await expect
      .poll(
        async () =>
          Math.min(
            ...(await Promise.all([a, b].map((p) => harness<number>(p.page, 'outputSeconds')))),
          ),
        {
          timeout: 30_000,
        },
      )
      .toBeGreaterThanOrEqual((Math.max(aMoved.afterMs, bMoved.afterMs) + 4_000) / 1000);
    const [ta, tb] = await Promise.all([
      harness<VoiceTake>(a.page, 'take'),
      harness<VoiceTake>(b.page, 'take'),
    ]);
    // The gap each page heard: from the last burst before the switch to the first after it (ms,
    // burst onsets; a gap of one period is no gap).
    const gap = (take: VoiceTake, hz: number, other: number, movedMs: number) => {
      const ts = outputBursts(take, [hz, other])
        .filter((x) => x.amplitudes[0]! > 0.02)
        .map((x) => x.t * 1000);
      const before = ts.filter((t) => t < movedMs).pop();
      const after = ts.find((t) => t >= movedMs);
      return {
        lastBeforeMs: before,
        firstAfterMs: after,
        heardAfter: ts.filter((t) => t >= movedMs).length,
      };
    };
    const aGap = gap(ta, FREQ_B, FREQ_A, aMoved.afterMs);
    const bGap = gap(tb, FREQ_A, FREQ_B, bMoved.afterMs);
    note('udpStopped', { aMoved, bMoved, aGap, bGap });
    expect(aMoved.afterMs).toBeLessThan(10_000);
    expect(bMoved.afterMs).toBeLessThan(10_000);
    expect(aGap.heardAfter).toBeGreaterThanOrEqual(5);
    expect(bGap.heardAfter).toBeGreaterThanOrEqual(5);
    await expect
      .poll(() => harness<Record<string, string>>(b.page, 'mediaPaths'))
      .toEqual({ alice: 'websocket', bob: 'websocket' });
  } finally {
    await close(a, b);
    await proxy.close();
    await gw.stop();
  }
});
