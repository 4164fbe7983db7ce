import type { Role } from './config/schema.ts';

/** What the admin API and logs may know about the running node. */
export interface NodeInfo {
  readonly nodeId: number;
  readonly roles: readonly Role[];
  readonly version: string;
  readonly dataDir: string;
  uptimeMs(): number;
  /** Bound listeners by name, as `host:port` (actual ports, after port 0 is resolved). */
  listeners(): Record<string, string>;
}
