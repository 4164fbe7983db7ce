/**
 * The meta service's gauges (service.ts), read at scrape time from its Raft
 * groups and their state machines on this node.
 */
import { Gauge, type Registry } from 'prom-client';
import type { GroupSpec } from './groups.ts';
import type { KvStateMachine } from './kv-state-machine.ts';
import type { RaftGroup } from './raft-group.ts';

export function registerMetaMetrics(
  registry: Registry,
  groups: readonly RaftGroup[],
  machines: readonly KvStateMachine[],
  specs: readonly GroupSpec[],
): void {
  const pending = new Gauge({
    name: 'ferrymq_meta_pending_requests',
    help: 'Proposals and reads waiting per Raft group (bounded by meta.pending_max)',
    labelNames: ['group'],
    registers: [registry],
    collect: () => {
      for (const g of groups) pending.set({ group: g.name }, g.pending);
    },
  });
  const keys = new Gauge({
    name: 'ferrymq_meta_kv_keys',
    help: 'Keys in each Raft group state machine on this node (the metadata KV is bounded by meta.kv_keys_max)',
    labelNames: ['group'],
    registers: [registry],
    collect: () => {
      for (const [i, sm] of machines.entries()) keys.set({ group: specs[i]?.name ?? String(i) }, sm.size);
    },
  });
  const overflows = new Gauge({
    name: 'ferrymq_meta_watch_overflows',
    help: 'Watchers ended since start because they fell meta.watch_queue_max changes behind',
    labelNames: ['group'],
    registers: [registry],
    collect: () => {
      for (const [i, sm] of machines.entries()) {
        overflows.set({ group: specs[i]?.name ?? String(i) }, sm.watchOverflows);
      }
    },
  });
  const commit = new Gauge({
    name: 'ferrymq_meta_commit_index',
    help: 'Commit index per Raft group as seen by this node',
    labelNames: ['group'],
    registers: [registry],
    collect: () => {
      for (const g of groups) commit.set({ group: g.name }, g.status().commitIndex);
    },
  });
}
