import { describe, expect, it } from 'vitest';
import { ClusterEmitter } from './cluster/ClusterEmitter.js';
import { type EmitterLogger, LoggedEmitter } from './LoggedEmitter.js';
import { SfuEmitter } from './sfu/SfuEmitter.js';

type Events = { ping: [n: number] };

class Probe extends LoggedEmitter<Events> {
  emit(n: number): void {
    this.safeEmit('ping', n);
  }
}

function recordingLogger(): EmitterLogger & { errors: Array<[object, string]> } {
  const errors: Array<[object, string]> = [];
  const none = (): void => {};
  return { errors, debug: none, info: none, warn: none, error: (c, m) => errors.push([c, m]) };
}

describe('LoggedEmitter', () => {
  it('calls every listener; one that throws is logged under its source and the rest still run', () => {
    const logger = recordingLogger();
    const e = new Probe(logger, 'probe');
    const seen: number[] = [];
    e.on('ping', () => {
      throw new Error('boom');
    });
    e.on('ping', (n) => seen.push(n));
    e.emit(7);
    expect(seen).toEqual([7]);
    expect(logger.errors).toHaveLength(1);
    expect(logger.errors[0]![1]).toBe('probe event listener threw');
    expect(logger.errors[0]![0]).toMatchObject({ event: 'ping' });
  });

  it('once() removes itself after the first call; off() and listenerCount()', () => {
    const e = new Probe(recordingLogger(), 'probe');
    const seen: number[] = [];
    const l = (n: number): void => void seen.push(n);
    e.once('ping', (n) => seen.push(-n));
    e.on('ping', l);
    e.emit(1);
    e.emit(2);
    expect(seen).toEqual([-1, 1, 2]);
    expect(e.listenerCount('ping')).toBe(1);
    e.off('ping', l);
    expect(e.listenerCount('ping')).toBe(0);
  });

  it('the SFU and cluster emitters name their module in the log line', () => {
    class SfuProbe extends SfuEmitter<Events> {
      emit(): void {
        this.safeEmit('ping', 1);
      }
    }
    class ClusterProbe extends ClusterEmitter<Events> {
      emit(): void {
        this.safeEmit('ping', 1);
      }
    }
    const sfuLog = recordingLogger();
    const clusterLog = recordingLogger();
    const emitters = [new SfuProbe(sfuLog), new ClusterProbe(clusterLog)];
    for (const e of emitters) {
      e.on('ping', () => {
        throw new Error('x');
      });
      e.emit();
    }
    expect(sfuLog.errors[0]![1]).toBe('SFU event listener threw');
    expect(clusterLog.errors[0]![1]).toBe('cluster event listener threw');
  });
});
