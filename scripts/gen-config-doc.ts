// Rewrites the README's config reference table from ts/config/schema.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference } from '../ts/config/reference.ts';

const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const next = readme.replace(
  /(<!-- config-reference:start[^>]*-->\n)[\s\S]*?(\n<!-- config-reference:end -->)/,
  (_m, start: string, end: string) => `${start}${renderConfigReference()}${end}`,
);
writeFileSync(path, next);
