// Runs in Chromium: the installed @concord/sdk/browser bundle connects to the installed
// gateway, joins the room, starts the microphone (worklet + WASM assets from the package) and
// waits until the capture chain reports the fake microphone's beep (a level above -60 dBFS):
// audio went through the WASM kernels on the audio thread. The result lands on
// window.smokeResult for the driver.
import { VoiceClient } from '@concord/sdk/browser';

const params = new URLSearchParams(location.hash.slice(1));
const status = document.getElementById('status');

async function run() {
  const client = new VoiceClient({ url: params.get('url'), token: params.get('token') });
  await client.connect();
  const room = await client.join(params.get('room'));
  status.textContent = 'joined';
  const level = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no level above -60 dBFS in 10 s')), 10_000);
    const onLevel = (dbfs) => {
      if (dbfs <= -60) return;
      clearTimeout(timer);
      client.localAudio.off('level', onLevel);
      resolve(dbfs);
    };
    client.localAudio.on('level', onLevel);
  });
  await client.localAudio.start();
  const levelDbfs = await level;
  return {
    userId: client.user?.id,
    participants: [...room.participants.keys()].sort(),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    localAudio: client.localAudio.state.status,
    levelDbfs,
  };
}

window.smokeResult = run().then(
  (result) => {
    status.textContent = 'ok';
    return result;
  },
  (err) => {
    status.textContent = `failed: ${err}`;
    return { error: String(err && err.stack ? err.stack : err) };
  },
);
