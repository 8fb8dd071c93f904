/** One unit of input: a line, an NDJSON value or a CSV record. */
export interface Item {
  /** 1-based position among the input's items (`{#}`). */
  readonly n: number;
  /** 1-based line of the input where the item ends (CSV records may span lines). */
  readonly line: number;
  /** The item's text as read, without its line ending (`{}`). */
  readonly raw: string;
  /** The parsed item: the line itself, the NDJSON value or the CSV record (header -> field). */
  readonly value: unknown;
}

/** Input that could not be read as an item; it goes to the failures file with its line. */
export interface Malformed {
  readonly line: number;
  readonly raw: string;
  readonly error: string;
}
