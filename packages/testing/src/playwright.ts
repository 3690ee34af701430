// Playwright helpers for voice-app loopback tests in real Chromium. Types only from
// @playwright/test, so this module loads without it.
import type { LaunchOptions, Page } from '@playwright/test';

/** Where Debian's `chromium` package installs the browser. */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/** Options of {@link chromiumLaunchOptions}. */
export interface FakeMicrophoneOptions {
  /** Absolute path of the WAV the fake microphone plays (looped). Omit for Chromium's beep. */
  wavPath?: string;
  /** Browser binary (default: Debian's; never a Playwright download). */
  executablePath?: string;
  /** More Chromium flags. */
  extraArgs?: string[];
}

/**
 * Launch options for headless Chromium with a fake microphone and camera, no permission
 * prompts and autoplay allowed — what a loopback test needs. The fake microphone always
 * captures at 44.1 kHz stereo, whatever the WAV's rate: write the WAV at 44.1 kHz for a
 * bit-exact capture into a 44.1 kHz AudioContext.
 */
export function chromiumLaunchOptions(options: FakeMicrophoneOptions = {}): LaunchOptions {
  return {
    executablePath: options.executablePath ?? DEBIAN_CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
      ...(options.wavPath ? [`--use-file-for-fake-audio-capture=${options.wavPath}`] : []),
      ...(options.extraArgs ?? []),
    ],
  };
}

/** Options of {@link joinRoomInPage}. */
export interface JoinRoomOptions {
  /** URL of the Concord SDK browser bundle, as the page can import it. */
  sdkUrl: string;
  /** Gateway WebSocket URL. */
  gatewayUrl: string;
  /** Access token. */
  token: string;
  /** Room to join. */
  room: string;
  /** Start the microphone with these capture stages (omit to leave it off). */
  microphone?: { aec?: boolean; ns?: boolean; agc?: boolean; vad?: boolean };
}

/**
 * Connects a Concord client inside `page`, joins `room`, optionally starts the microphone, and
 * leaves the client on `window.concordClient` / the room on `window.concordRoom` for the test
 * to drive. Resolves with the local user id.
 */
export async function joinRoomInPage(page: Page, options: JoinRoomOptions): Promise<string> {
  return page.evaluate(async (o) => {
    const { VoiceClient } = (await import(o.sdkUrl)) as {
      VoiceClient: new (opts: { url: string; token: string }) => {
        connect(): Promise<void>;
        join(room: string): Promise<unknown>;
        user?: { id: string };
        localAudio: { start(opts: unknown): Promise<void> };
      };
    };
    const client = new VoiceClient({ url: o.gatewayUrl, token: o.token });
    await client.connect();
    const room = await client.join(o.room);
    if (o.microphone)
      await client.localAudio.start({ stages: o.microphone, browserFallback: false });
    Object.assign(window, { concordClient: client, concordRoom: room });
    return client.user?.id ?? '';
  }, options);
}
