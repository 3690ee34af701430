import { describe, expect, it } from 'vitest';
import {
  checkPosition,
  placeSource,
  proximityGain,
  resolveProximity,
  type Listener,
} from './spatialScene.js';

const defaults = resolveProximity();
const facingNorth: Listener = { position: { x: 0, y: 0 }, heading: Math.PI / 2 };

describe('proximity gain', () => {
  it('is 1 up to the reference distance, then falls by the inverse-distance law', () => {
    expect(proximityGain(0, defaults)).toBe(1);
    expect(proximityGain(1, defaults)).toBe(1);
    expect(proximityGain(2, defaults)).toBeCloseTo(0.5, 12); // −6 dB per doubling
    expect(proximityGain(4, defaults)).toBeCloseTo(0.25, 12);
    const steep = resolveProximity({ rolloffFactor: 2 });
    expect(proximityGain(2, steep)).toBeCloseTo(1 / 3, 12);
  });

  it('fades to silence over the last fadeM before the radius and is silent beyond it', () => {
    const p = resolveProximity({ maxDistanceM: 10, fadeM: 2 });
    expect(proximityGain(8, p)).toBeCloseTo(1 / 8, 12);
    expect(proximityGain(9, p)).toBeCloseTo((1 / 9) * 0.5, 12);
    expect(proximityGain(10, p)).toBe(0);
    expect(proximityGain(50, p)).toBe(0);
    expect(proximityGain(Number.POSITIVE_INFINITY, p)).toBe(0);
    let prev = 2;
    for (let d = 0; d < 12; d += 0.25) {
      const g = proximityGain(d, p);
      expect(g).toBeLessThanOrEqual(prev);
      prev = g;
    }
  });

  it('rejects options out of range, naming them', () => {
    expect(() => resolveProximity({ refDistanceM: 0 })).toThrow(/refDistanceM/);
    expect(() => resolveProximity({ maxDistanceM: 0.5 })).toThrow(/maxDistanceM/);
    expect(() => resolveProximity({ rolloffFactor: -1 })).toThrow(/rolloffFactor/);
    expect(() => resolveProximity({ fadeM: 30 })).toThrow(/fadeM/);
  });
});

describe('placeSource', () => {
  it('hears a source to the west on the left and to the east on the right when facing north', () => {
    const west = placeSource(facingNorth, { x: -3, y: 0 }, defaults);
    expect(west.azimuthRad).toBeCloseTo(Math.PI / 2, 12);
    expect(west.distanceM).toBeCloseTo(3, 12);
    expect(west.gain).toBeCloseTo(1 / 3, 12);
    expect(placeSource(facingNorth, { x: 3, y: 0 }, defaults).azimuthRad).toBeCloseTo(
      -Math.PI / 2,
      12,
    );
    expect(placeSource(facingNorth, { x: 0, y: 5 }, defaults).azimuthRad).toBeCloseTo(0, 12);
  });

  it('turns with the heading and measures from the listener position', () => {
    const facingEast: Listener = { position: { x: 10, y: 10 }, heading: 0 };
    // North of a listener facing east is on their left.
    expect(placeSource(facingEast, { x: 10, y: 12 }, defaults).azimuthRad).toBeCloseTo(
      Math.PI / 2,
      12,
    );
    // Behind: azimuth ±π, wrapped into (−π, π].
    const behind = placeSource(facingEast, { x: 5, y: 10 }, defaults).azimuthRad;
    expect(Math.abs(behind)).toBeCloseTo(Math.PI, 12);
  });

  it('gives elevation from z and puts a source at the listener straight ahead at full level', () => {
    const above = placeSource(facingNorth, { x: 0, y: 1, z: 1 }, defaults);
    expect(above.elevationRad).toBeCloseTo(Math.PI / 4, 12);
    expect(placeSource(facingNorth, { x: 0, y: 0 }, defaults)).toEqual({
      azimuthRad: 0,
      elevationRad: 0,
      distanceM: 0,
      gain: 1,
    });
  });

  it('silences a source beyond the radius', () => {
    expect(placeSource(facingNorth, { x: 0, y: 25 }, defaults).gain).toBe(0);
  });
});

describe('checkPosition', () => {
  it('accepts finite metres and names the bad field otherwise', () => {
    expect(() => checkPosition({ x: 1, y: 2 }, 'p')).not.toThrow();
    expect(() => checkPosition({ x: 1, y: Number.NaN }, 'p')).toThrow(/p\.y/);
    expect(() => checkPosition({ x: 1, y: 2, z: Number.POSITIVE_INFINITY }, 'p')).toThrow(/p\.z/);
    expect(() => checkPosition(null as unknown as { x: number; y: number }, 'p')).toThrow(
      TypeError,
    );
  });
});
