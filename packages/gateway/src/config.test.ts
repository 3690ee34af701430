import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, resolveConfig, type GatewayConfig } from './config.js';
import { GatewayError } from './errors.js';

const SECRET = 'config-secret-config-secret-config-secret';

function configError(overrides: Partial<GatewayConfig>): GatewayError {
  try {
    resolveConfig(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error(`resolveConfig accepted ${JSON.stringify(overrides)}`);
}

describe('resolveConfig', () => {
  it('fills every unset value from the defaults', () => {
    const config = resolveConfig({ secret: SECRET, port: 9000 });
    expect(config.port).toBe(9000);
    expect(config.heartbeatIntervalMs).toBe(30_000);
    expect(config.resumeWindowMs).toBe(60_000);
    expect(config.rateLimitMessages).toBe(120);
    expect(config.rateLimitWindowMs).toBe(60_000);
    expect(config.limits).toEqual(DEFAULT_CONFIG.limits);
    expect(config.host).toBe('127.0.0.1');
  });

  it('requires a secret unless insecure dev auth is enabled', () => {
    expect(configError({}).code).toBe('CONCORD_ERR_CONFIG');
    expect(configError({ secret: '' }).code).toBe('CONCORD_ERR_CONFIG');
    expect(resolveConfig({ insecureDevAuth: true }).secret).toBeUndefined();
  });

  it('refuses secrets under 32 bytes', () => {
    expect(configError({ secret: 'x'.repeat(31) }).message).toMatch(/32 bytes/);
    expect(resolveConfig({ secret: 'x'.repeat(32) }).secret).toHaveLength(32);
  });

  it.each<[keyof GatewayConfig, unknown]>([
    ['heartbeatIntervalMs', 0],
    ['heartbeatIntervalMs', -1],
    ['identifyTimeoutMs', Number.NaN],
    ['replayMaxEvents', 0],
    ['replayMaxBytes', Number.POSITIVE_INFINITY],
    ['rateLimitMessages', 0],
    ['rateLimitWindowMs', -5],
    ['maxConnectionsPerIp', 0],
    ['maxRoomsPerSession', '4'],
    ['port', -1],
    ['port', 70_000],
    ['resumeWindowMs', -1],
    ['batchWindowMs', -1],
    ['drainTimeoutMs', Number.NaN],
    ['path', 'gateway'],
    ['maxSpeakers', 0],
    ['maxSpeakers', 2.5],
    ['mediaRateLimitFps', 0],
    ['mediaBurstFrames', 0.5],
    ['reportRateLimitMessages', 0],
    ['maxBufferedMediaBytes', -1],
  ])('refuses %s = %s with CONCORD_ERR_CONFIG naming the setting', (key, value) => {
    const err = configError({ secret: SECRET, [key]: value } as Partial<GatewayConfig>);
    expect(err.code).toBe('CONCORD_ERR_CONFIG');
    expect(err.message).toContain(key);
  });

  it('refuses invalid protocol limits with CONCORD_ERR_CONFIG', () => {
    const err = configError({
      secret: SECRET,
      limits: { ...DEFAULT_CONFIG.limits, maxFrameBytes: 0 },
    });
    expect(err.code).toBe('CONCORD_ERR_CONFIG');
    expect(err.message).toContain('maxFrameBytes');
  });

  it('accepts zero where zero means "off"', () => {
    const config = resolveConfig({
      secret: SECRET,
      port: 0,
      heartbeatGraceMs: 0,
      resumeWindowMs: 0,
      batchWindowMs: 0,
      compressionThresholdBytes: 0,
      drainTimeoutMs: 0,
    });
    expect(config.batchWindowMs).toBe(0);
  });
});
