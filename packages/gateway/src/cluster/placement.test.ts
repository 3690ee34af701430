import { describe, expect, it } from 'vitest';
import { homeNode, nextNode, rankNodes } from './placement.js';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const ROOMS = Array.from({ length: 10_000 }, (_, i) => `room-${i}`);

function placeAll(nodes: readonly string[]): Map<string, string> {
  return new Map(ROOMS.map((r) => [r, homeNode(r, nodes)!]));
}

describe('rendezvous placement', () => {
  it('places a room on the same node whatever the order of the node list', () => {
    const shuffled = ['n4', 'n1', 'n6', 'n3', 'n5', 'n2'];
    for (const room of ROOMS.slice(0, 500)) {
      expect(homeNode(room, shuffled)).toBe(homeNode(room, NODES));
      expect(rankNodes(room, shuffled)).toEqual(rankNodes(room, NODES));
    }
    expect(homeNode('r', [{ id: 'n2' }, { id: 'n5' }])).toBe(homeNode('r', ['n5', 'n2']));
  });

  it('spreads rooms evenly (each of 6 nodes within 10 % of a sixth of 10,000 rooms)', () => {
    const counts = new Map<string, number>();
    for (const node of placeAll(NODES).values()) counts.set(node, (counts.get(node) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(NODES);
    for (const c of counts.values()) expect(Math.abs(c - 10_000 / 6)).toBeLessThan(10_000 / 6 / 10);
  });

  it('moves only the leaving node’s rooms, each to its next-ranked node', () => {
    const before = placeAll(NODES);
    const after = placeAll(NODES.filter((n) => n !== 'n3'));
    let moved = 0;
    for (const room of ROOMS) {
      if (before.get(room) === 'n3') {
        moved++;
        expect(after.get(room)).toBe(rankNodes(room, NODES)[1]);
        expect(after.get(room)).toBe(nextNode(room, NODES, ['n3']));
      } else expect(after.get(room)).toBe(before.get(room));
    }
    expect(moved).toBe([...before.values()].filter((n) => n === 'n3').length);
  });

  it('gives a joining node only rooms it now ranks first on (about 1/N of them)', () => {
    const before = placeAll(NODES);
    const after = placeAll([...NODES, 'n7']);
    let moved = 0;
    for (const room of ROOMS) {
      if (after.get(room) !== before.get(room)) {
        moved++;
        expect(after.get(room)).toBe('n7');
      }
    }
    expect(Math.abs(moved - 10_000 / 7)).toBeLessThan(10_000 / 7 / 10);
  });

  it('nextNode skips every excluded node and is undefined when none is left', () => {
    const ranked = rankNodes('lobby', NODES);
    expect(nextNode('lobby', NODES, [ranked[0]!])).toBe(ranked[1]);
    expect(nextNode('lobby', NODES, ranked.slice(0, 3))).toBe(ranked[3]);
    expect(nextNode('lobby', NODES, NODES)).toBeUndefined();
    expect(homeNode('lobby', [])).toBeUndefined();
  });
});
