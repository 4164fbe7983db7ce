import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// ts/version.ts and dist/version.js both sit one level below package.json.
const pkg = require('../package.json') as { name: string; version: string };

export const packageName: string = pkg.name;
export const packageVersion: string = pkg.version;
