import type { Participant as WireParticipant } from '@concord/protocol';

/** Voice state of a participant. */
export interface VoiceState {
  muted: boolean;
  deafened: boolean;
}

/**
 * A member of a room as this client sees it. Updated in place by the room as events arrive;
 * read its fields, don't write them. Main thread.
 */
export class Participant {
  /** User id (from the member's token). */
  readonly userId: string;
  /** Display name. */
  readonly name: string;
  /** Whether the participant's microphone is muted. */
  muted: boolean;
  /** Whether the participant hears nothing. */
  deafened: boolean;
  /** Whether the participant is speaking now. */
  speaking: boolean;

  constructor(
    wire: WireParticipant,
    /** True for this client's own participant. */
    readonly isLocal: boolean,
  ) {
    this.userId = wire.userId;
    this.name = wire.name;
    this.muted = wire.muted;
    this.deafened = wire.deafened;
    this.speaking = wire.speaking;
  }

  /** Copies the wire state in; returns whether anything changed. */
  apply(wire: Partial<WireParticipant>): boolean {
    let changed = false;
    for (const key of ['muted', 'deafened', 'speaking'] as const) {
      const v = wire[key];
      if (v !== undefined && v !== this[key]) {
        this[key] = v;
        changed = true;
      }
    }
    return changed;
  }
}
