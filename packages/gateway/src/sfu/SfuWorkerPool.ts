import type { SfuLogger } from './SfuEmitter.js';
import { SfuError } from './SfuError.js';
import type { MediasoupApi, MsWorker, MsWorkerSettings } from './mediasoupTypes.js';

/** One worker slot: a worker process, restarted in place when it dies. */
export interface WorkerSlot {
  readonly index: number;
  /** The live worker; undefined while it restarts. */
  worker: MsWorker | undefined;
  /** Rooms whose router lives on this slot. */
  rooms: number;
  /** Resolves with the worker once it is (re)started. */
  ready: Promise<MsWorker>;
}

/** Hooks of a {@link SfuWorkerPool}. */
export interface WorkerPoolHooks {
  /** The slot's worker died (its routers and everything on them are already closed). */
  died(slot: WorkerSlot, pid: number, error: unknown): void;
  /** The slot has a new worker. */
  restarted(slot: WorkerSlot, worker: MsWorker): void;
}

/** A restart within this long of the previous death waits {@link RESTART_BACKOFF_MS}. */
const CRASH_LOOP_MS = 10_000;
const RESTART_BACKOFF_MS = 1_000;

/**
 * mediasoup workers, one process per slot (default: one per core), restarted when they die.
 * Rooms go to the slot with the fewest rooms. Counts deaths and restarts. Main thread.
 */
export class SfuWorkerPool {
  /** The slots, in index order. */
  readonly slots: WorkerSlot[] = [];
  /** Workers that died. */
  deaths = 0;
  /** Workers started to replace one that died. */
  restarts = 0;
  private closed = false;
  private readonly lastDeathAt = new Map<number, number>();

  constructor(
    private readonly api: MediasoupApi,
    private readonly settings: MsWorkerSettings,
    private readonly logger: SfuLogger,
    private readonly hooks: WorkerPoolHooks,
  ) {}

  /**
   * Starts `count` workers.
   * @throws {SfuError} `CONCORD_ERR_SFU_UNAVAILABLE` when a worker cannot start (all started
   * ones are closed again).
   */
  async start(count: number): Promise<void> {
    try {
      for (let index = 0; index < count; index++) {
        const worker = await this.spawn();
        const slot: WorkerSlot = { index, worker, rooms: 0, ready: Promise.resolve(worker) };
        this.slots.push(slot);
        this.watch(slot, worker);
      }
    } catch (e) {
      this.close();
      throw SfuError.unavailable(`mediasoup worker did not start: ${(e as Error).message}`, e);
    }
  }

  /** The slot a new room should use: the live one with the fewest rooms (else any). */
  pick(): WorkerSlot {
    let best: WorkerSlot | undefined;
    for (const s of this.slots) if (s.worker && (!best || s.rooms < best.rooms)) best = s;
    const slot = best ?? this.slots[0];
    if (!slot) throw SfuError.closed();
    return slot;
  }

  /** Closes every worker (and so every router); idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) {
      const w = s.worker;
      s.worker = undefined;
      if (w && !w.closed) w.close();
    }
  }

  private spawn(): Promise<MsWorker> {
    return this.api.createWorker(this.settings);
  }

  private watch(slot: WorkerSlot, worker: MsWorker): void {
    worker.once('died', (error: unknown) => {
      if (this.closed || slot.worker !== worker) return;
      this.deaths++;
      slot.worker = undefined;
      const now = Date.now();
      const last = this.lastDeathAt.get(slot.index) ?? Number.NEGATIVE_INFINITY;
      this.lastDeathAt.set(slot.index, now);
      const delayMs = now - last < CRASH_LOOP_MS ? RESTART_BACKOFF_MS : 0;
      this.logger.error(
        { worker: slot.index, pid: worker.pid, err: error, restartInMs: delayMs },
        'mediasoup worker died',
      );
      slot.ready = this.restart(slot, delayMs);
      // A rejection is handled by the restart loop; keep Node from reporting it unhandled.
      slot.ready.catch(() => undefined);
      this.hooks.died(slot, worker.pid, error);
    });
  }

  private async restart(slot: WorkerSlot, delayMs: number): Promise<MsWorker> {
    for (let attempt = 0; ; attempt++) {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (this.closed) throw SfuError.closed();
      try {
        const worker = await this.spawn();
        if (this.closed) {
          worker.close();
          throw SfuError.closed();
        }
        slot.worker = worker;
        this.restarts++;
        this.watch(slot, worker);
        this.logger.info({ worker: slot.index, pid: worker.pid }, 'mediasoup worker restarted');
        this.hooks.restarted(slot, worker);
        return worker;
      } catch (e) {
        if (e instanceof SfuError) throw e;
        delayMs = Math.min(5_000, RESTART_BACKOFF_MS * 2 ** attempt);
        this.logger.error(
          { worker: slot.index, err: e, retryInMs: delayMs },
          'mediasoup worker restart failed',
        );
      }
    }
  }
}
