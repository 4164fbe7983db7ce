/**
 * A one-member meta service on its own temporary data dir, in the test's
 * process, with fast ticks so its groups elect in milliseconds: for unit
 * tests of stores that keep their data in the Raft groups. `close` stops
 * the service, then its storage.
 */
import { resolveConfig } from '../../config/load.ts';
import { createLogger } from '../../log.ts';
import { MetaService } from '../../meta/service.ts';
import { Storage } from '../../storage/storage.ts';
import { tempDir } from './broker.ts';

export interface MetaNode {
  meta: MetaService;
  storage: Storage;
  close(): Promise<void>;
}

export async function startMetaNode(prefix: string): Promise<MetaNode> {
  const config = resolveConfig(undefined, '(test)', {});
  const storage = await Storage.open(await tempDir(prefix), config.storage);
  const meta = await MetaService.start({
    nodeId: 1,
    config: {
      ...config.meta,
      tick_ms: 5,
      election_tick_count: 4,
      heartbeat_tick_count: 1,
      shard_group_count: 2,
    },
    members: [],
    listen: { host: '127.0.0.1', port: 0 },
    kv: storage.kv,
    logger: createLogger({ level: 'silent', format: 'json' }),
  });
  return {
    meta,
    storage,
    async close() {
      await meta.close();
      await storage.close();
    },
  };
}
