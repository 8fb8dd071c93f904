// After tsup: make `require('sluice/compat/p-limit')` the function itself, as p-limit's own
// CommonJS build was (`module.exports = pLimit`), with `.default` and `.limitFunction` on it; and
// give its CommonJS types the same shape (`export =`). Fails loudly if tsup's output changes shape.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';

const js = new URL('../dist/compat/p-limit.cjs', import.meta.url);
const source = readFileSync(js, 'utf8');
if (!source.includes('exports.default = pLimit;')) throw new Error('dist/compat/p-limit.cjs: unexpected shape');
if (!source.includes('module.exports = Object.assign(')) {
  appendFileSync(
    js,
    '\n// The function itself, as p-limit 3 exported it.\nmodule.exports = Object.assign(exports.default, exports);\n',
  );
}

const dts = new URL('../dist/compat/p-limit.d.cts', import.meta.url);
const types = readFileSync(dts, 'utf8');
const last = 'export { type LimitFunction, type Options, pLimit as default, limitFunction };';
if (types.includes(last)) {
  writeFileSync(
    dts,
    types.replace(
      last,
      [
        'declare const limitFunction_: typeof limitFunction;',
        'type LimitFunction_ = LimitFunction;',
        'type Options_ = Options;',
        'declare namespace pLimit {',
        '  export { LimitFunction_ as LimitFunction, Options_ as Options };',
        '  export const limitFunction: typeof limitFunction_;',
        '  const default_: typeof pLimit;',
        '  export { default_ as default };',
        '}',
        'export = pLimit;',
      ].join('\n'),
    ),
  );
} else if (!types.includes('export = pLimit;')) {
  throw new Error('dist/compat/p-limit.d.cts: unexpected shape');
}
