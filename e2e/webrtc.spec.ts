// Voice over WebRTC through the gateway's mediasoup SFU, in real Chromium (the whole run is in a
// loopback-only network namespace: scripts/test.mjs). Each page's fake microphone plays 100 ms
// tone bursts every 500 ms at its own frequency; what a page hears is its playback output (the
// mix of every remote voice), recorded in its AudioContext.
import { readdirSync, readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
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
import { startGateway } from '../packages/gateway/test/harness.js';

test('two pages over WebRTC hear each other: right tone, right period, not their own voice', async () => {
  test.setTimeout(60_000);
  const a = await launchVoicePage(burstWav('rtc-a-1000', FREQ_A));
  const b = await launchVoicePage(burstWav('rtc-b-1500', FREQ_B));
  try {
    const room = `rtc-${Date.now()}`;
    const opts = { media: { path: 'webrtc' }, tapOutput: true, recordOutput: true };
    await joinVoice(a, 'alice', room, STAGES_TONES, opts);
    await joinVoice(b, 'bob', room, STAGES_TONES, opts);
    await Promise.all([webrtcConnected(a.page), webrtcConnected(b.page)]);
    await expect
      .poll(() => harness<Record<string, string>>(a.page, 'mediaPaths'))
      .toEqual({ alice: 'webrtc', bob: 'webrtc' });
    const [ta, tb] = await Promise.all([record(a.page, 6), record(b.page, 6)]);
    note('webrtc.aHearsB', expectHears(ta, FREQ_B, FREQ_A, 'alice'));
    note('webrtc.bHearsA', expectHears(tb, FREQ_A, FREQ_B, 'bob'));
    // Nothing of theirs went over the WebSocket relay.
    const stats = await harness<{ sender?: { framesSent: number } }>(a.page, 'stats');
    expect(stats.sender?.framesSent ?? 0).toBeLessThan(50);
  } finally {
    await close(a, b);
  }
});

test('a WebRTC page and a WebSocket page in one room hear each other', async () => {
  test.setTimeout(60_000);
  const a = await launchVoicePage(burstWav('mix-a-1000', FREQ_A));
  const b = await launchVoicePage(burstWav('mix-b-1500', FREQ_B));
  try {
    const room = `mixed-${Date.now()}`;
    await joinVoice(a, 'alice', room, STAGES_TONES, {
      media: { path: 'webrtc' },
      tapOutput: true,
      recordOutput: true,
    });
    await joinVoice(b, 'bob', room, STAGES_TONES, {
      media: { path: 'websocket' },
      tapOutput: true,
      recordOutput: true,
    });
    await webrtcConnected(a.page);
    await expect
      .poll(() => harness<Record<string, string>>(b.page, 'mediaPaths'))
      .toEqual({ alice: 'webrtc', bob: 'websocket' });
    const [ta, tb] = await Promise.all([record(a.page, 6), record(b.page, 6)]);
    note('mixed.webrtcHearsWebSocket', expectHears(ta, FREQ_B, FREQ_A, 'alice (webrtc)'));
    note('mixed.webSocketHearsWebRtc', expectHears(tb, FREQ_A, FREQ_B, 'bob (websocket)'));
  } finally {
    await close(a, b);
  }
});

test('UDP blocked: the page falls back to the WebSocket within the bound and keeps hearing and being heard', async () => {
  test.setTimeout(90_000);
  // A gateway whose SFU offers UDP only (TCP candidates off), and one page whose network cannot
  // reach the SFU: that page has no way to it; the other page has.
  const gw = await startGateway([
    '--insecure-dev-auth',
    '--webrtc',
    'on',
    '--webrtc-udp-only',
    '--webrtc-workers',
    '1',
    '--webrtc-port-min',
    '44000',
    '--webrtc-port-max',
    '44999',
    '--static',
    '/sdk/=packages/sdk/dist',
    '--static',
    '/e2e/=e2e/pages',
  ]);
  const base = `http://127.0.0.1:${gw.port}`;
  const a = await launchVoicePage(burstWav('udp-a-1000', FREQ_A), [], base);
  // Page A's network drops everything to the SFU: every ICE candidate it learns points at
  // 127.0.0.2, where nothing answers (the SFU listens on 127.0.0.1 only).
  await a.page.evaluate(() => {
    const proto = RTCPeerConnection.prototype;
    const set = proto.setRemoteDescription as (
      this: RTCPeerConnection,
      d?: RTCSessionDescriptionInit,
    ) => Promise<void>;
    proto.setRemoteDescription = function (
      this: RTCPeerConnection,
      desc?: RTCSessionDescriptionInit,
    ) {
      const sdp = desc?.sdp?.replace(/(a=candidate:.* )127\.0\.0\.1( \d+ typ)/g, '$1127.0.0.2$2');
      return set.call(this, desc && { type: desc.type, ...(sdp ? { sdp } : {}) });
    } as typeof proto.setRemoteDescription;
  });
  const b = await launchVoicePage(burstWav('udp-b-1500', FREQ_B), [], base);
  try {
    const room = `udp-${Date.now()}`;
    const joinedAt = Date.now();
    await joinVoice(a, 'alice', room, STAGES_TONES, {
      media: { path: 'auto' },
      tapOutput: true,
      recordOutput: true,
    });
    await joinVoice(b, 'bob', room, STAGES_TONES, {
      media: { path: 'auto' },
      tapOutput: true,
      recordOutput: true,
    });
    await webrtcConnected(b.page);
    await expect
      .poll(async () => (await transportEvents(a.page)).find((e) => e.path === 'websocket'), {
        timeout: 15_000,
      })
      .toBeTruthy();
    const fallback = (await transportEvents(a.page)).find((e) => e.path === 'websocket')!;
    const fallbackMs = fallback.t - joinedAt;
    note('udpBlocked.fallback', { reason: fallback.reason, afterJoinMs: fallbackMs });
    // The ICE deadline is 3 s from when there is something to connect.
    expect(fallbackMs).toBeLessThan(5_000);
    expect((await transportEvents(a.page)).some((e) => e.path === 'webrtc')).toBe(false);
    await expect
      .poll(() => harness<Record<string, string>>(b.page, 'mediaPaths'))
      .toEqual({ alice: 'websocket', bob: 'webrtc' });
    const [ta, tb] = await Promise.all([record(a.page, 6), record(b.page, 6)]);
    note('udpBlocked.aHearsB', expectHears(ta, FREQ_B, FREQ_A, 'alice (fell back)'));
    note('udpBlocked.bHearsA', expectHears(tb, FREQ_A, FREQ_B, 'bob (webrtc)'));
  } finally {
    await close(a, b);
    await gw.stop();
  }
});

/** Pids of the mediasoup workers of the e2e gateway (the one serving `port`). */
function e2eWorkerPids(port: number): number[] {
  const procs = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  const read = (pid: string, f: string) => {
    try {
      return readFileSync(`/proc/${pid}/${f}`, 'utf8');
    } catch {
      return '';
    }
  };
  const gateway = procs.find((p) => {
    const cmd = read(p, 'cmdline').split('\0');
    return cmd.some((c) => c.endsWith('cli.js')) && cmd.includes(String(port));
  });
  if (!gateway) return [];
  return procs
    .filter((p) => {
      const stat = read(p, 'stat');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return stat.includes('(mediasoup-worke') && fields[1] === gateway;
    })
    .map(Number);
}

test('the mediasoup worker killed mid-call: audio back on both sides within 2 s', async ({
  baseURL,
}) => {
  test.setTimeout(90_000);
  const a = await launchVoicePage(burstWav('kill-a-1000', FREQ_A));
  const b = await launchVoicePage(burstWav('kill-b-1500', FREQ_B));
  try {
    const room = `kill-${Date.now()}`;
    const opts = { media: { path: 'webrtc' }, tapOutput: true, recordOutput: true };
    await joinVoice(a, 'alice', room, STAGES_TONES, opts);
    await joinVoice(b, 'bob', room, STAGES_TONES, opts);
    await Promise.all([webrtcConnected(a.page), webrtcConnected(b.page)]);
    await Promise.all([record(a.page, 3), record(b.page, 3)]);
    const port = Number(new URL(baseURL!).port);
    const pids = e2eWorkerPids(port);
    expect(pids.length).toBeGreaterThan(0);
    await Promise.all([harness(a.page, 'reset'), harness(b.page, 'reset')]);
    const killedAt = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    // Record 8 s from the kill on; find when each page hears the other's bursts again.
    await expect
      .poll(() => harness<number>(a.page, 'outputSeconds'), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(8);
    const [ta, tb] = await Promise.all([
      harness<VoiceTake>(a.page, 'take'),
      harness<VoiceTake>(b.page, 'take'),
    ]);
    // The first burst heard after the kill, in ms after it; bursts come every 500 ms, so a gap of
    // 2 s shows as the first burst at most 2.5 s after the kill.
    const firstAfter = (take: VoiceTake, hz: number, other: number) =>
      outputBursts(take, [hz, other]).find((x) => x.amplitudes[0]! > 0.02 && x.t * 1000 > 300);
    const aBack = firstAfter(ta, FREQ_B, FREQ_A);
    const bBack = firstAfter(tb, FREQ_A, FREQ_B);
    note('workerKilled', {
      workers: pids.length,
      aHearsBAgainMs: aBack && Math.round(aBack.t * 1000),
      bHearsAAgainMs: bBack && Math.round(bBack.t * 1000),
      recordingStartedAfterKillMs: 0,
      killedAt,
    });
    expect(aBack).toBeTruthy();
    expect(bBack).toBeTruthy();
    expect(aBack!.t * 1000).toBeLessThanOrEqual(2_500);
    expect(bBack!.t * 1000).toBeLessThanOrEqual(2_500);
    const metrics = await (await fetch(`${baseURL}/metrics`)).text();
    expect(metrics).toMatch(/concord_sfu_worker_deaths_total [1-9]/);
  } finally {
    await close(a, b);
  }
});

test('room hops over WebRTC leave nothing behind: peer connections, SFU transports, producers, consumers', async () => {
  test.setTimeout(120_000);
  const gw = await startGateway([
    '--insecure-dev-auth',
    '--webrtc',
    'on',
    '--webrtc-workers',
    '1',
    '--static',
    '/sdk/=packages/sdk/dist',
    '--static',
    '/e2e/=e2e/pages',
  ]);
  const base = `http://127.0.0.1:${gw.port}`;
  const sfuObjects = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
    return {
      rooms: read('concord_sfu_rooms'),
      transports: read('concord_sfu_transports'),
      producers: read('concord_sfu_producers'),
      consumers: read('concord_sfu_consumers'),
      webrtcMembers: read('concord_webrtc_members'),
    };
  };
  const a = await launchVoicePage(burstWav('hop-a-1000', FREQ_A), [], base);
  const b = await launchVoicePage(burstWav('hop-b-1500', FREQ_B), [], base);
  try {
    const room = `hop-${Date.now()}`;
    const opts = { media: { path: 'webrtc' }, tapOutput: true, recordOutput: true };
    await joinVoice(a, 'alice', room, STAGES_TONES, opts);
    await joinVoice(b, 'bob', room, STAGES_TONES, opts);
    await Promise.all([webrtcConnected(a.page), webrtcConnected(b.page)]);
    const bothOnWebRtc = () =>
      expect
        .poll(() => harness<Record<string, string>>(b.page, 'mediaPaths'), { timeout: 15_000 })
        .toEqual({ alice: 'webrtc', bob: 'webrtc' });
    await bothOnWebRtc();
    const before = {
      pcs: await harness<number>(b.page, 'livePeerConnections'),
      sfu: await sfuObjects(),
    };
    note('hops.before', before);
    expect(before.pcs).toBe(2); // one send and one receive transport
    expect(before.sfu).toMatchObject({ rooms: 1, transports: 4, webrtcMembers: 2 });
    const HOPS = 8;
    for (let i = 0; i < HOPS; i++) {
      await harness(b.page, 'rejoin');
      await bothOnWebRtc();
    }
    await expect.poll(sfuObjects).toEqual(before.sfu);
    expect(await harness<number>(b.page, 'livePeerConnections')).toBe(before.pcs);
    // And the call still works both ways.
    const [ta, tb] = await Promise.all([record(a.page, 4), record(b.page, 4)]);
    note('hops.aHearsB', expectHears(ta, FREQ_B, FREQ_A, 'alice'));
    note('hops.bHearsA', expectHears(tb, FREQ_A, FREQ_B, 'bob'));
  } finally {
    await close(a, b);
    await gw.stop();
  }
});
