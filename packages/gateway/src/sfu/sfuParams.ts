// Outline checks of the parameters clients send through signalling (DTLS parameters, RTP
// parameters, RTP capabilities) before they reach mediasoup, which validates the details and
// whose errors are wrapped too. Bounded: a hostile client cannot make the gateway walk a huge
// object. Main thread.
import { SfuError } from './SfuError.js';

const MAX_ITEMS = 64;
const MAX_STRING = 1_024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(what: string): never {
  throw SfuError.invalidParameters(what);
}

function list(v: unknown, what: string, required: boolean): unknown[] {
  if (v === undefined && !required) return [];
  if (!Array.isArray(v)) fail(`${what} must be an array`);
  if (v.length > MAX_ITEMS) fail(`${what} has ${v.length} entries, at most ${MAX_ITEMS} allowed`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_STRING)
    fail(`${what} must be a non-empty string of at most ${MAX_STRING} characters`);
  return v;
}

function int(v: unknown, what: string, min: number, max: number): void {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
    fail(`${what} must be an integer in [${min}, ${max}]`);
}

/** Total JSON size cap: parameters of one audio stream are a few hundred bytes. */
function checkSize(v: unknown, what: string): void {
  let json: string;
  try {
    json = JSON.stringify(v);
  } catch {
    fail(`${what} is not JSON`);
  }
  if (json.length > 16_384) fail(`${what} is ${json.length} bytes of JSON, at most 16384`);
}

/**
 * Checks DTLS parameters (`{ role?, fingerprints: [{ algorithm, value }] }`).
 * @throws {SfuError} `CONCORD_ERR_SFU_INVALID_PARAMETERS`.
 */
export function checkDtlsParameters(v: unknown): void {
  checkSize(v, 'dtlsParameters');
  if (!isObject(v)) fail('dtlsParameters must be an object');
  if (v.role !== undefined && v.role !== 'auto' && v.role !== 'client' && v.role !== 'server')
    fail("dtlsParameters.role must be 'auto', 'client' or 'server'");
  const fingerprints = list(v.fingerprints, 'dtlsParameters.fingerprints', true);
  if (fingerprints.length === 0) fail('dtlsParameters.fingerprints must not be empty');
  for (const f of fingerprints) {
    if (!isObject(f)) fail('each fingerprint must be an object');
    str(f.algorithm, 'fingerprint.algorithm');
    str(f.value, 'fingerprint.value');
  }
}

/**
 * Checks the outline of an audio producer's RTP parameters (`{ codecs: [{ mimeType,
 * payloadType, clockRate }], headerExtensions?, encodings?, rtcp? }`).
 * @throws {SfuError} `CONCORD_ERR_SFU_INVALID_PARAMETERS`.
 */
export function checkRtpParameters(v: unknown): void {
  checkSize(v, 'rtpParameters');
  if (!isObject(v)) fail('rtpParameters must be an object');
  const codecs = list(v.codecs, 'rtpParameters.codecs', true);
  if (codecs.length === 0) fail('rtpParameters.codecs must not be empty');
  for (const c of codecs) {
    if (!isObject(c)) fail('each codec must be an object');
    const mime = str(c.mimeType, 'codec.mimeType');
    if (!mime.toLowerCase().startsWith('audio/')) fail(`codec ${mime} is not an audio codec`);
    int(c.payloadType, 'codec.payloadType', 0, 127);
    int(c.clockRate, 'codec.clockRate', 1, 1_000_000);
  }
  for (const h of list(v.headerExtensions, 'rtpParameters.headerExtensions', false)) {
    if (!isObject(h)) fail('each header extension must be an object');
    str(h.uri, 'headerExtension.uri');
    int(h.id, 'headerExtension.id', 1, 255);
  }
  for (const e of list(v.encodings, 'rtpParameters.encodings', false))
    if (!isObject(e)) fail('each encoding must be an object');
  if (v.rtcp !== undefined && !isObject(v.rtcp)) fail('rtpParameters.rtcp must be an object');
}

/**
 * Checks the outline of RTP capabilities (`{ codecs?: [...], headerExtensions?: [...] }`).
 * @throws {SfuError} `CONCORD_ERR_SFU_INVALID_PARAMETERS`.
 */
export function checkRtpCapabilities(v: unknown): void {
  checkSize(v, 'rtpCapabilities');
  if (!isObject(v)) fail('rtpCapabilities must be an object');
  for (const c of list(v.codecs, 'rtpCapabilities.codecs', false)) {
    if (!isObject(c)) fail('each codec capability must be an object');
    str(c.mimeType, 'codec.mimeType');
    str(c.kind, 'codec.kind');
    int(c.clockRate, 'codec.clockRate', 1, 1_000_000);
  }
  for (const h of list(v.headerExtensions, 'rtpCapabilities.headerExtensions', false)) {
    if (!isObject(h)) fail('each header extension must be an object');
    str(h.uri, 'headerExtension.uri');
  }
}
