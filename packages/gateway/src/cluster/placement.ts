import { createHash } from 'node:crypto';

/** A node as placement sees it: its id, or anything with an `id`. */
export type NodeLike = string | { readonly id: string };

const idOf = (n: NodeLike): string => (typeof n === 'string' ? n : n.id);

/**
 * Rendezvous (highest random weight) score of `room` on `node`: the first 64 bits of
 * SHA-256(node id, NUL, room). Thaler & Ravishankar, "Using name-based mappings to increase hit
 * rates", IEEE/ACM ToN 6(1), 1998: each room goes to the node with the highest score, so a
 * node leaving moves only its own rooms, each to its next-highest node, and a node joining
 * takes only the rooms it now scores highest on (≈ 1/N of them).
 */
export function rendezvousScore(nodeId: string, room: string): bigint {
  return createHash('sha256').update(nodeId).update('\0').update(room).digest().readBigUInt64BE(0);
}

/** Node ids ranked for `room`, best first (ties, practically impossible, by id). */
export function rankNodes(room: string, nodes: readonly NodeLike[]): string[] {
  const scored = nodes.map((n) => ({ id: idOf(n), score: rendezvousScore(idOf(n), room) }));
  scored.sort((a, b) =>
    a.score === b.score ? (a.id < b.id ? -1 : 1) : a.score > b.score ? -1 : 1,
  );
  return scored.map((s) => s.id);
}

/** The home node of `room` among `nodes` (undefined when there is none). */
export function homeNode(room: string, nodes: readonly NodeLike[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const n of nodes) {
    const id = idOf(n);
    const score = rendezvousScore(id, room);
    if (score > bestScore || (score === bestScore && best !== undefined && id < best)) {
      best = id;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Where `room` goes when the nodes in `excluding` (a draining node, a dead one) cannot have
 * it: the best-ranked other node — the room's home once they are gone from `nodes`.
 */
export function nextNode(
  room: string,
  nodes: readonly NodeLike[],
  excluding: Iterable<string>,
): string | undefined {
  const skip = new Set(excluding);
  return homeNode(
    room,
    nodes.filter((n) => !skip.has(idOf(n))),
  );
}
