// Geometry of spatial audio: where a voice is relative to the listener, and how loud distance
// makes it. Pure functions; main thread.

/**
 * A point in the app's world, in metres. Right-handed: `x` east (right on a map), `y` north (up
 * on a map), `z` up out of the map (default 0).
 */
export interface Position {
  x: number;
  y: number;
  z?: number;
}

/** Where the listener is and which way they face. */
export interface Listener {
  /** Position in metres. */
  position: Position;
  /**
   * Direction the listener faces, in radians counter-clockwise from +x seen from above:
   * 0 faces east (+x), π/2 north (+y). Voices to the listener's left play in the left ear.
   */
  heading: number;
}

/**
 * Proximity: how a voice's level falls with distance, and where it goes silent. The gain is
 * 1 up to `refDistanceM`, then the inverse-distance law `ref / (ref + rolloff·(d − ref))` (the
 * Web Audio API's `PannerNode` "inverse" distance model, W3C Web Audio API 1.0 §1.30.2), and it
 * fades linearly to 0 over the last `fadeM` before `maxDistanceM`: silent at and beyond it.
 */
export interface ProximityOptions {
  /** Distance up to which a voice plays at full level, in metres (default 1; > 0). */
  refDistanceM?: number;
  /** How fast the level falls past `refDistanceM` (default 1: −6 dB per doubling; ≥ 0). */
  rolloffFactor?: number;
  /** Radius beyond which a voice is silent, in metres (default 20; > refDistanceM). */
  maxDistanceM?: number;
  /** Width of the fade to silence before `maxDistanceM`, in metres (default 2; ≥ 0). */
  fadeM?: number;
}

/** Where a voice is heard from and how loud: what the playback processor needs. */
export interface Placement {
  /** 0 ahead, positive to the listener's left, in radians in (−π, π]. */
  azimuthRad: number;
  /** Positive above the listener's ear plane, in radians in [−π/2, π/2]. */
  elevationRad: number;
  /** Distance from the listener, in metres. */
  distanceM: number;
  /** Proximity gain (linear, 0–1). */
  gain: number;
}

/** {@link ProximityOptions} with every default filled in. */
export type ResolvedProximity = Required<ProximityOptions>;

/**
 * Validates `options` and fills in the defaults.
 * @throws {RangeError} naming the first value out of range.
 */
export function resolveProximity(options: ProximityOptions = {}): ResolvedProximity {
  const r: ResolvedProximity = {
    refDistanceM: options.refDistanceM ?? 1,
    rolloffFactor: options.rolloffFactor ?? 1,
    maxDistanceM: options.maxDistanceM ?? 20,
    fadeM: options.fadeM ?? 2,
  };
  if (!(r.refDistanceM > 0 && r.refDistanceM < 1e6))
    throw new RangeError(`refDistanceM must be in (0, 1e6), got ${r.refDistanceM}`);
  if (!(r.rolloffFactor >= 0 && r.rolloffFactor <= 100))
    throw new RangeError(`rolloffFactor must be in [0, 100], got ${r.rolloffFactor}`);
  if (!(r.maxDistanceM > r.refDistanceM && r.maxDistanceM <= 1e6))
    throw new RangeError(
      `maxDistanceM must be in (refDistanceM, 1e6], got ${r.maxDistanceM} (refDistanceM ${r.refDistanceM})`,
    );
  if (!(r.fadeM >= 0 && r.fadeM <= r.maxDistanceM))
    throw new RangeError(`fadeM must be in [0, maxDistanceM], got ${r.fadeM}`);
  return r;
}

/** Linear gain of a voice `distanceM` metres away (see {@link ProximityOptions}). Pure. */
export function proximityGain(distanceM: number, p: ResolvedProximity): number {
  if (!(distanceM < p.maxDistanceM)) return 0;
  const d = Math.max(distanceM, p.refDistanceM);
  const law = p.refDistanceM / (p.refDistanceM + p.rolloffFactor * (d - p.refDistanceM));
  const fadeStart = p.maxDistanceM - p.fadeM;
  const fade = distanceM <= fadeStart ? 1 : (p.maxDistanceM - distanceM) / p.fadeM;
  return law * fade;
}

/**
 * Direction and distance of a source at `source` as `listener` hears it, and its proximity gain.
 * A source at the listener's own position is straight ahead. Pure.
 */
export function placeSource(
  listener: Listener,
  source: Position,
  proximity: ResolvedProximity,
): Placement {
  const dx = source.x - listener.position.x;
  const dy = source.y - listener.position.y;
  const dz = (source.z ?? 0) - (listener.position.z ?? 0);
  const horizontal = Math.hypot(dx, dy);
  const distanceM = Math.hypot(horizontal, dz);
  if (distanceM < 1e-9) return { azimuthRad: 0, elevationRad: 0, distanceM, gain: 1 };
  let azimuthRad = Math.atan2(dy, dx) - listener.heading;
  azimuthRad = Math.atan2(Math.sin(azimuthRad), Math.cos(azimuthRad)); // wrap to (−π, π]
  return {
    azimuthRad,
    elevationRad: Math.atan2(dz, horizontal),
    distanceM,
    gain: proximityGain(distanceM, proximity),
  };
}

/**
 * Checks that `position` has finite `x`, `y` (and `z` when given) in metres.
 * @throws {TypeError} naming `what` and the bad field.
 */
export function checkPosition(position: Position, what: string): void {
  if (typeof position !== 'object' || position === null)
    throw new TypeError(`${what} must be an object {x, y, z?} in metres`);
  for (const k of ['x', 'y'] as const)
    if (typeof position[k] !== 'number' || !Number.isFinite(position[k]))
      throw new TypeError(
        `${what}.${k} must be a finite number (metres), got ${String(position[k])}`,
      );
  if (position.z !== undefined && (typeof position.z !== 'number' || !Number.isFinite(position.z)))
    throw new TypeError(`${what}.z must be a finite number (metres), got ${String(position.z)}`);
}
