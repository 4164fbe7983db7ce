import { describe, expect, it } from 'vitest';
import { decodeJson, encodeJson, type KvEvent, type KvResult, KvStateMachine } from './kv-state-machine.ts';

describe('KvStateMachine batch command', () => {
  it('applies every write of a batch at one version, skipping only the ones whose ifVersion mismatches', async () => {
    const sm = new KvStateMachine();
    sm.apply(1, encodeJson({ op: 'put', key: 'a', value: '1' }));
    const w = sm.watch('', 100);
    const r = decodeJson<KvResult>(
      sm.apply(
        2,
        encodeJson({
          op: 'batch',
          ops: [
            { op: 'put', key: 'b', value: '2' },
            { op: 'delete', key: 'a', ifVersion: 7 },
            { op: 'put', key: 'c', value: '3', ifVersion: 0 },
            { op: 'delete', key: 'missing' },
          ],
        }),
      ),
    );
    expect(r).toEqual({ ok: true, version: 2 });
    expect(sm.get('a')).toEqual({ key: 'a', value: '1', version: 1 });
    expect(sm.get('b')).toEqual({ key: 'b', value: '2', version: 2 });
    expect(sm.get('c')).toEqual({ key: 'c', value: '3', version: 2 });
    sm.apply(3, encodeJson({ op: 'batch', ops: [{ op: 'delete', key: 'a', ifVersion: 1 }] }));
    expect(sm.get('a')).toBeUndefined();
    w.close();
    const events: KvEvent[] = [];
    for await (const e of w) events.push(e);
    expect(events).toEqual([
      { type: 'put', key: 'b', value: '2', version: 2 },
      { type: 'put', key: 'c', value: '3', version: 2 },
      { type: 'delete', key: 'a', version: 3 },
    ]);
  });

  it('a batch without a list of writes changes nothing', () => {
    const sm = new KvStateMachine();
    expect(decodeJson<KvResult>(sm.apply(1, encodeJson({ op: 'batch' })))).toEqual({ ok: true, version: 1 });
    expect(sm.size).toBe(0);
  });
});
