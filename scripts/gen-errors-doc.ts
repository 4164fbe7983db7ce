// Rewrites docs/errors.md from the catalogue in ts/errors.ts.
import { writeFileSync } from 'node:fs';
import { ErrorCodes } from '../ts/errors.ts';

let doc = `# Error codes

Every error FerryMQ raises on purpose carries a stable \`code\`; native errors
arrive with the same strings. Codes are never reused once retired. This
list is generated from \`ts/errors.ts\` by \`node scripts/gen-errors-doc.ts\`
and checked by \`ts/errors.test.ts\`.
`;
for (const [code, meaning] of Object.entries(ErrorCodes)) doc += `\n#### ${code}\n\n${meaning}\n`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), doc);
