// Placeholders: `{}` the item's text, `{#}` its position, `{json}` the item as
// JSON, `{field}` / `{a.b}` a field of an NDJSON or CSV item; `{x|url}`,
// `{x|json}`, `{x|sh}`, `{x|raw}` choose the encoding; `{{` and `}}` are braces.
import type { Item } from './Item.js';
import { quoted, UsageError } from './UsageError.js';

export type Encoding = 'raw' | 'url' | 'json' | 'sh';

/** A placeholder names a field the item does not have. The item fails; the run goes on. */
export class MissingFieldError extends Error {
  override readonly name = 'MissingFieldError';
}

type Part = string | { readonly name: string; readonly path: readonly string[]; readonly encoding: Encoding };

/** A compiled template: render it per item. */
export interface Template {
  readonly source: string;
  /** Whether the text holds any placeholder. */
  readonly hasPlaceholder: boolean;
  /** The fields it reads (empty when it uses only `{}`, `{#}` and `{json}`). */
  readonly fields: readonly string[];
  render(item: Item): string;
}

const TOKEN = /\{\{|\}\}|\{(#|json|[A-Za-z_][\w.-]*)?(?:\|(raw|url|json|sh))?\}/g;

export function compileTemplate(flag: string, source: string, encoding: Encoding): Template {
  const parts: Part[] = [];
  const fields: string[] = [];
  let last = 0;
  let literal = '';
  for (const match of source.matchAll(TOKEN)) {
    literal += source.slice(last, match.index);
    last = match.index + match[0].length;
    if (match[0] === '{{' || match[0] === '}}') {
      literal += match[0][0];
      continue;
    }
    if (literal !== '') parts.push(literal);
    literal = '';
    const name = match[1] ?? '';
    if (name !== '' && name !== '#' && name !== 'json') fields.push(name);
    parts.push({ name, path: name.split('.'), encoding: (match[2] as Encoding | undefined) ?? encoding });
  }
  literal += source.slice(last);
  if (literal !== '') parts.push(literal);
  const hasPlaceholder = parts.some((part) => typeof part !== 'string');
  const unknown = /\{(?:#|json|[A-Za-z_][\w.-]*)?\|(?!(?:raw|url|json|sh)\})[^}]*\}/.exec(source);
  if (unknown !== null) {
    throw new UsageError(
      `${flag}: unknown encoding in ${quoted(unknown[0])} of ${quoted(source)} (use |raw, |url, |json or |sh)`,
    );
  }
  return {
    source,
    hasPlaceholder,
    fields,
    render(item) {
      let out = '';
      for (const part of parts) out += typeof part === 'string' ? part : encode(lookup(item, part), part.encoding);
      return out;
    },
  };
}

function lookup(item: Item, part: Exclude<Part, string>): unknown {
  if (part.name === '') return item.raw;
  if (part.name === '#') return item.n;
  if (part.name === 'json') return JSON.stringify(item.value);
  let value: unknown = item.value;
  for (const step of part.path) {
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[step] : undefined;
  }
  if (value === undefined) throw new MissingFieldError(`the item has no field \`${part.name}\``);
  return value;
}

function encode(value: unknown, encoding: Encoding): string {
  if (encoding === 'json') return JSON.stringify(value);
  const text = value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  switch (encoding) {
    case 'raw':
      return text;
    case 'url':
      return encodeURIComponent(text);
    case 'sh':
      return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
  }
}
