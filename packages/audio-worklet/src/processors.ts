// Entry of the worklet bundle (dist/concord-processors.js): registers the processors.
// Load it once per AudioContext with `audioWorklet.addModule(url)`.
import './capture/CaptureProcessor.js';
import './playback/PlaybackProcessor.js';
import './tap/TapProcessor.js';
