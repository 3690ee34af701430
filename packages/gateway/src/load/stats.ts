/** Counters one worker reports. */
export interface WorkerStats {
  started: number;
  ready: number;
  failed: number;
  /** Sockets that closed while the bot wanted to stay. */
  dropped: number;
  /** Churning bots that left and came back as a new session. */
  churns: number;
  joined: number;
  framesSent: number;
  framesReceived: number;
  events: number;
  /** Heartbeat round trips, ms (at most 20,000 kept, evenly sampled). */
  rtts: number[];
}

/** A worker's counters at zero (without the round trips). Any thread. */
export function newCounters(): Omit<WorkerStats, 'rtts'> {
  return {
    started: 0,
    ready: 0,
    failed: 0,
    dropped: 0,
    churns: 0,
    joined: 0,
    framesSent: 0,
    framesReceived: 0,
    events: 0,
  };
}
