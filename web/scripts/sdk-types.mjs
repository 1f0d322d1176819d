// After `tsc -p web/tsconfig.sdk.json`: the emitted declarations import each other with the sources' `.ts`
// spelling; point them at `.js` (what a consumer's TypeScript resolves to the .d.ts) and add the entry
// web/dist/sdk/earshot.d.ts beside earshot.js.
import fs from 'node:fs';
import path from 'node:path';

const sdk = path.join(path.dirname(new URL(import.meta.url).pathname), '../dist/sdk');
const types = path.join(sdk, 'types');
for (const file of fs.readdirSync(types, { recursive: true })) {
  if (!String(file).endsWith('.d.ts')) continue;
  const full = path.join(types, String(file));
  fs.writeFileSync(full, fs.readFileSync(full, 'utf8').replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
}
fs.writeFileSync(path.join(sdk, 'earshot.d.ts'), "export * from './types/web/src/sdk/earshot.js';\n");
