import { quoted, UsageError } from './UsageError.js';

/** `--halt soon|now,fail=N|N%`: stop the run once that many items failed. */
export interface Halt {
  /** `soon`: start nothing more and let running items finish; `now`: also end the running ones. */
  readonly when: 'soon' | 'now';
  readonly fail: number;
  /** `fail` is a percentage of the items ended so far (counted from the 10th). */
  readonly percent: boolean;
}

export function parseHalt(text: string): Halt | undefined {
  if (text === 'never') return undefined;
  const match = /^(soon|now),fail=(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const fail = Number(match?.[2]);
  if (match === null || fail <= 0 || (match[3] === '%' && fail > 100) || (match[3] === '' && !Number.isInteger(fail))) {
    throw new UsageError(`--halt expects soon,fail=N or now,fail=N% (or never), got ${quoted(text)}`);
  }
  return { when: match[1] as 'soon' | 'now', fail, percent: match[3] === '%' };
}

/** Whether `failed` of `ended` items reach the halt's threshold. */
export function halts(halt: Halt, failed: number, ended: number): boolean {
  if (!halt.percent) return failed >= halt.fail;
  return ended >= 10 && (failed * 100) / ended >= halt.fail;
}
