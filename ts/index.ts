export { loadConfig, resolveConfig } from './config/load.ts';
export type { Config } from './config/schema.ts';
export { ErrorCodes, FerryError } from './errors.ts';
export { type RunningNode, startNode } from './node.ts';
