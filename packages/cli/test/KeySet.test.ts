import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeySet } from '../src/KeySet.js';
import { keyOf } from '../src/Runner.js';

describe('KeySet (the journal keys in memory)', () => {
  it('behaves as a Set<string> for default keys and any other string (model test)', () => {
    const key = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map((n) => keyOf(String(n))),
      fc.string({ maxLength: 20 }),
      fc.constantFrom('AAAAAAAAAAAAAAAA', '________________', 'AAAAAAAAAAAAAAA!'),
    );
    const op = fc.tuple(fc.constantFrom('add', 'addRange', 'delete', 'has'), key);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const set = new KeySet();
        const model = new Set<string>();
        for (const [name, k] of ops) {
          if (name === 'add') {
            set.add(k);
            model.add(k);
          } else if (name === 'addRange') {
            set.addRange(`+${k}\n`, 1, 1 + k.length);
            model.add(k);
          } else if (name === 'delete') {
            set.delete(k);
            model.delete(k);
          } else expect(set.has(k)).toBe(model.has(k));
          expect(set.size).toBe(model.size);
        }
        for (const k of model) expect(set.has(k)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('holds 1,000,000 default keys exactly (growth keeps every one)', () => {
    const set = new KeySet();
    for (let i = 0; i < 1_000_000; i++) set.add(keyOf(`user-${i}`));
    expect(set.size).toBe(1_000_000);
    let found = 0;
    for (let i = 0; i < 1_000_000; i += 997) if (set.has(keyOf(`user-${i}`))) found++;
    expect(found).toBe(Math.ceil(1_000_000 / 997));
    expect(set.has(keyOf('user-1000000'))).toBe(false);
  });
});
