/**
 * The ordered container under every waiter queue, against a plain model
 * (highest priority first, arrival order within one), with few or many
 * distinct priorities, removals from anywhere, re-prioritising and both ends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Levels } from '../src/core/Levels.js';

interface Item {
  priority: number;
  done: boolean;
  readonly n: number;
}

type Op =
  | { kind: 'push'; priority: number }
  | { kind: 'takeFirst' }
  | { kind: 'last' }
  | { kind: 'remove'; pick: number }
  | { kind: 'reprioritize'; pick: number; priority: number }
  | { kind: 'takeAll' };

const ops = (priority: fc.Arbitrary<number>) =>
  fc.array(
    fc.oneof(
      { weight: 60, arbitrary: fc.record({ kind: fc.constant('push' as const), priority }) },
      { weight: 30, arbitrary: fc.record({ kind: fc.constant('takeFirst' as const) }) },
      { weight: 10, arbitrary: fc.record({ kind: fc.constant('last' as const) }) },
      { weight: 30, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
      {
        weight: 10,
        arbitrary: fc.record({ kind: fc.constant('reprioritize' as const), pick: fc.nat(), priority }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('takeAll' as const) }) },
    ),
    { maxLength: 400 },
  );

function check(list: Op[]): void {
  const levels = new Levels<Item>();
  let model: Item[] = [];
  let n = 0;
  const order = () => [...model].sort((a, b) => b.priority - a.priority || a.n - b.n);
  for (const op of list) {
    if (op.kind === 'push') {
      const item = { priority: op.priority, done: false, n: n++ };
      levels.push(item);
      model.push(item);
    } else if (op.kind === 'takeFirst') {
      const expected = order()[0];
      expect(levels.takeFirst()).toBe(expected);
      model = model.filter((i) => i !== expected);
    } else if (op.kind === 'last') {
      const sorted = order();
      const lowest = sorted.at(-1)?.priority;
      const newestOfLowest = sorted.filter((i) => i.priority === lowest).at(-1);
      expect(levels.last()).toBe(newestOfLowest);
    } else if (op.kind === 'remove' || op.kind === 'reprioritize') {
      if (model.length === 0) continue;
      const item = model[op.pick % model.length] as Item;
      if (op.kind === 'remove') {
        levels.remove(item);
        model = model.filter((i) => i !== item);
      } else {
        levels.reprioritize(item, op.priority);
        // At the back of its new level: it counts as the newest arrival there.
        model = model.filter((i) => i !== item);
        const moved = Object.assign(item, {});
        (moved as { n: number }).n = n++;
        model.push(moved);
      }
    } else {
      expect(levels.takeAll()).toEqual(order());
      model = [];
    }
    expect(levels.size).toBe(model.length);
    expect(levels.first()).toBe(order()[0]);
  }
  expect([...levels]).toEqual(order());
  const heads = order().filter((item, i, all) => i === 0 || all[i - 1]?.priority !== item.priority);
  expect([...levels.heads()]).toEqual(heads);
}

describe('Levels (the waiter order)', () => {
  it('matches the model with a few priorities', () => {
    fc.assert(fc.property(ops(fc.constantFrom(0, 0, 0, 1, -1, 5)), check), { numRuns: 300 });
  });

  it('matches the model with many distinct priorities', () => {
    fc.assert(fc.property(ops(fc.integer({ min: -1000, max: 1000 })), check), { numRuns: 300 });
  });
});
