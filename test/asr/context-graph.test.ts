import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContextGraph } from '../../src/asr/context-graph.ts';

// Keyterms as token ids: "A B C" (bonus 1 per token), "B D" (bonus 2), "E" (bonus 0.5).
const graph = new ContextGraph([
  { tokens: [1, 2, 3], bonus: 1 },
  { tokens: [2, 4], bonus: 2 },
  { tokens: [5], bonus: 0.5 },
]);

test('each token extending a match earns its bonus; a completed keyterm keeps it and matching starts afresh', () => {
  assert.deepEqual(graph.score([1, 2, 3]), { bonus: 3, matches: 1 });
  assert.deepEqual(graph.score([9, 1, 2, 3, 9, 5]), { bonus: 3.5, matches: 2 });
  const first = graph.step(graph.root, 1);
  assert.equal(first.delta, 1);
  assert.equal(graph.step(graph.step(first.state, 2).state, 3).state, graph.root);
});

test('a match abandoned half way, or open at the end, gives back what it earned', () => {
  assert.deepEqual(graph.score([1, 2, 9]), { bonus: 0, matches: 0 });
  assert.deepEqual(graph.score([1, 2]), { bonus: 0, matches: 0 });
  const open = graph.step(graph.step(graph.root, 1).state, 2).state;
  assert.equal(graph.step(open, 9).delta, -2);
  assert.equal(graph.finalScore(open), -2);
});

test('an abandoned match falls back to the longest suffix that is still a prefix (Aho-Corasick)', () => {
  // A B, then D: "A B C" fails but "B D" completes from its "B".
  assert.deepEqual(graph.score([1, 2, 4]), { bonus: 4, matches: 1 });
});
