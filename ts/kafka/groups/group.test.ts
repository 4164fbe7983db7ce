import { describe, expect, it } from 'vitest';
import { Group, type Member } from './group.ts';

function member(id: string, protocols: string[], instance: string | null = null): Member {
  return {
    memberId: id,
    groupInstanceId: instance,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    rebalanceTimeoutMs: 1000,
    sessionTimeoutMs: 1000,
    protocolType: 'consumer',
    protocols: protocols.map((name) => ({ name, metadata: Buffer.from(name) })),
    assignment: Buffer.alloc(0),
    awaitingJoin: null,
    awaitingSync: null,
    isNew: false,
    heartbeatTimer: null,
  };
}

describe('group', () => {
  it('selects the common protocol most members prefer', () => {
    const g = new Group('g');
    g.add(member('a', ['range', 'roundrobin']));
    g.add(member('b', ['roundrobin', 'range']));
    g.add(member('c', ['roundrobin', 'sticky', 'range']));
    expect(g.selectProtocol()).toBe('roundrobin');
    g.protocolName = 'roundrobin';
    expect(g.currentMemberMetadata().map((m) => m.metadata.toString())).toEqual([
      'roundrobin',
      'roundrobin',
      'roundrobin',
    ]);
  });

  it('accepts a joiner only with the group protocol type and a protocol every other member supports', () => {
    const g = new Group('g');
    const p = (names: string[]) => names.map((name) => ({ name, metadata: Buffer.alloc(0) }));
    expect(g.supportsProtocols('', p(['range']))).toBe(false);
    expect(g.supportsProtocols('consumer', [])).toBe(false);
    g.add(member('a', ['range', 'sticky']));
    expect(g.supportsProtocols('consumer', p(['sticky']))).toBe(true);
    expect(g.supportsProtocols('connect', p(['sticky']))).toBe(false);
    expect(g.supportsProtocols('consumer', p(['roundrobin']))).toBe(false);
    // A member rejoining with new protocols is not compared with itself.
    expect(g.supportsProtocols('consumer', p(['roundrobin']), 'a')).toBe(true);
  });

  it('keeps the leader and static ids consistent through removal and replacement', () => {
    const g = new Group('g');
    g.add(member('a', ['range'], 'i-a'));
    g.add(member('b', ['range']));
    expect(g.leaderId).toBe('a');
    g.replaceStaticMember('i-a', 'a', 'a2');
    expect(g.leaderId).toBe('a2');
    expect(g.staticMembers.get('i-a')).toBe('a2');
    expect(g.isStaticMemberFenced('i-a', 'a')).toBe(true);
    expect(g.isStaticMemberFenced('i-a', 'a2')).toBe(false);
    g.remove('a2');
    expect(g.staticMembers.has('i-a')).toBe(false);
    expect(g.leaderId).toBe('b');
    g.remove('b');
    expect(g.leaderId).toBeNull();
  });
});
