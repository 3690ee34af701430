// Nothing leaks (issue 4, after livekit-client #1969): 50 cycles of mute/unmute, input device
// switch, leave/rejoin and capture stop/start end with the same live audio resources and
// about the same memory as after the first cycle.
import { expect, test } from '@playwright/test';
import { tone } from '@concord/testing';
import type { Stages } from './support/harness.js';
import { launchWithWav, WAV_RATE_HZ, writeWav } from './support/wav.js';
import { note } from './support/note.js';

const ALL_ON: Stages = { aec: true, ns: true, agc: true, vad: true };
const CYCLES = 50;
const ROOM = 'leak-room';

test('50 cycles of mute, device switch, leave/rejoin and capture restart leak nothing', async () => {
  test.setTimeout(120_000);
  const wav = writeWav('leak-tone', tone(WAV_RATE_HZ, 440, 0.1, WAV_RATE_HZ));
  const { browser, page } = await launchWithWav(wav, [
    '--js-flags=--expose-gc',
    // measureUserAgentSpecificMemory() otherwise waits for the next natural GC (up to ~20 s).
    '--enable-blink-features=ForceEagerMeasureMemory',
  ]);
  try {
    // The WebSocket media path: 50 room hops fit the gateway's control rate limit only without
    // WebRTC's signalling (webrtc.spec.ts checks WebRTC's own resources over room hops).
    await page.evaluate(() => {
      window.audioHarness.createClient({ media: 'websocket' });
    });
    await page.evaluate((stages) => window.audioHarness.startCapture({ stages }), ALL_ON);
    await page.evaluate((room) => window.audioHarness.join(room), ROOM);
    const devices = await page.evaluate(() => window.audioHarness.inputDevices());
    note(
      'devices',
      devices.map((d) => d.label || d.deviceId),
    );
    const ids = [...new Set(devices.map((d) => d.deviceId).filter((id) => id !== 'default'))];
    // Two fake devices when Chromium lists them; otherwise one and the default (undefined).
    const cycleDevices: Array<string | undefined> =
      ids.length >= 2 ? ids.slice(0, 2) : [ids[0], undefined];
    note('cycleDevices', cycleDevices);

    // The gateway allows 120 control messages a minute per connection: leave + join is 2 per
    // cycle, so the room-level mute (2 more) runs every 5th cycle; capture mutes every cycle.
    const cycle = (i: number) =>
      page.evaluate((o) => window.audioHarness.leakCycle(o), {
        deviceId: cycleDevices[i % 2],
        stages: ALL_ON,
        room: ROOM,
        roomMute: i % 5 === 0,
      });
    const measure = async () => ({
      diagnostics: await page.evaluate(() => window.audioHarness.diagnostics()),
      heapBytes: await page.evaluate(() => window.audioHarness.heapBytes()),
      ua: await page.evaluate(() => window.audioHarness.uaMemoryBytes()),
    });
    await cycle(0);
    const first = await measure();
    const t0 = Date.now();
    for (let i = 1; i < CYCLES / 2; i++) await cycle(i);
    const mid = await measure();
    for (let i = CYCLES / 2; i < CYCLES; i++) await cycle(i);
    const last = await measure();
    note('cycleMs', (Date.now() - t0) / (CYCLES - 1));
    note('diagnostics.afterFirst', first.diagnostics);
    note('diagnostics.afterLast', last.diagnostics);
    note('heap.afterFirstBytes', first.heapBytes);
    note('heap.growthFirstHalfBytes', mid.heapBytes - first.heapBytes);
    note('heap.growthSecondHalfBytes', last.heapBytes - mid.heapBytes);
    note('uaMemory.afterFirst', first.ua);
    note('uaMemory.afterLast', last.ua);

    expect(first.diagnostics).toEqual({ audioContexts: 1, workletNodes: 2, inputTracks: 1 });
    expect(mid.diagnostics).toEqual(first.diagnostics);
    expect(last.diagnostics).toEqual(first.diagnostics);
    // JS heap after forced GCs. Measured: +130–190 KB over the 49 cycles, most of it in the
    // first ten (JIT code, inline caches, lazily built maps; 10 cycles alone: +133 KB), and
    // +38 KB over the last 25 (blocks of 25 capture restarts, device switches or mutes alone:
    // −3…+16 KB, no trend; leave/rejoin alone: −0.3…+19 KB per 14). Bound the second half at
    // 4 KB per cycle (2.6× what was seen; a leaked room or capture graph per cycle —
    // emitters, listeners, node and stream wrappers, closures — grows linearly past it over
    // more cycles) and the whole run at 512 KB.
    expect(last.heapBytes - mid.heapBytes).toBeLessThan(4096 * (CYCLES / 2));
    expect(last.heapBytes - first.heapBytes).toBeLessThan(512 * 1024);
    // measureUserAgentSpecificMemory (available: the page is cross-origin isolated) adds
    // memory outside the JS heap, notably the SharedArrayBuffers of the frame and echo
    // reference rings (~240 KB live, of which the 50-frame capture ring is 193 KB). Measured
    // total growth over the 49 cycles: +180–190 KB in three runs. Its split between "Window"
    // and "Shared" is not stable (one run: Shared +637 KB, Window −448 KB): a stopped
    // capture's ring is freed only once the audio thread's own GC drops the processor, which
    // the page's gc() does not trigger — so the split is recorded, not asserted. Bound the
    // total at 1 MiB (5× what was seen); one leaked capture ring per cycle would add 9.4 MB.
    // The worklets' WASM memories live on the audio thread, outside this measurement: the
    // live-node counters above are what shows those are released.
    expect(first.ua).not.toBeNull();
    if (first.ua && last.ua) {
      const shared = (m: { scopes: Record<string, number> }) => m.scopes['Shared'] ?? 0;
      note('uaMemory.growthBytes', last.ua.bytes - first.ua.bytes);
      note('uaMemory.sharedGrowthBytes', shared(last.ua) - shared(first.ua));
      expect(last.ua.bytes - first.ua.bytes).toBeLessThan(1024 * 1024);
    }
  } finally {
    await browser.close();
  }
});
