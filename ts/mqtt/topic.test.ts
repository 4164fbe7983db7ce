import { describe, expect, it } from 'vitest';
import {
  isDollarTopic,
  parseSharedSubscription,
  QUEUE_GROUP,
  TOPIC_BYTES_MAX,
  type TopicInvalidReasons,
  validateTopicFilter,
  validateTopicName,
} from './topic.ts';

const ok = { ok: true };
const bad = (reason: keyof typeof TopicInvalidReasons) => ({ ok: false, reason });

describe('validateTopicName', () => {
  it('accepts ordinary names, empty levels, spaces, $ topics and non-ASCII', () => {
    for (const name of [
      'sport',
      'sport/tennis/player1',
      '/',
      '/finance',
      'a//b',
      'ACCOUNTS',
      'a b',
      '$SYS/x',
      'ü/日本',
    ]) {
      expect(validateTopicName(name), name).toEqual(ok);
    }
  });

  it('[MQTT-4.7.3-1] refuses an empty name', () => {
    expect(validateTopicName('')).toEqual(bad('empty'));
  });

  it('[MQTT-4.7.3-2] refuses U+0000', () => {
    expect(validateTopicName('a\u0000b')).toEqual(bad('null-character'));
  });

  it('[MQTT-3.3.2-2] refuses wildcards in a topic name', () => {
    for (const name of ['+', '#', 'sport/+', 'sport/#', 'a+b', 'a#']) {
      expect(validateTopicName(name), name).toEqual(bad('wildcard-in-topic-name'));
    }
  });

  it('[MQTT-4.7.3-3] counts UTF-8 bytes, not UTF-16 units, against 65535', () => {
    expect(validateTopicName('a'.repeat(TOPIC_BYTES_MAX))).toEqual(ok);
    expect(validateTopicName('a'.repeat(TOPIC_BYTES_MAX + 1))).toEqual(bad('too-long'));
    // U+00E9 is 2 bytes in UTF-8: 32768 of them are 65536 bytes but only 32768 units.
    expect(validateTopicName('é'.repeat(32_767))).toEqual(ok);
    expect(validateTopicName('é'.repeat(32_768))).toEqual(bad('too-long'));
    // U+65E5 is 3 bytes.
    expect(validateTopicName('日'.repeat(21_845))).toEqual(ok);
    expect(validateTopicName('日'.repeat(21_846))).toEqual(bad('too-long'));
  });
});

describe('validateTopicFilter', () => {
  it('accepts the spec examples of §4.7.1.2 and §4.7.1.3', () => {
    for (const f of [
      'sport/tennis/player1/#',
      'sport/#',
      '#',
      '+',
      '+/tennis/#',
      'sport/+/player1',
      '/+',
      '+/+',
    ]) {
      expect(validateTopicFilter(f), f).toEqual(ok);
    }
  });

  it('accepts literal filters, empty levels and $ filters', () => {
    for (const f of ['a', '/', '//', 'a//b', '$SYS/#', '$SYS/+/x', '$share/g/x']) {
      expect(validateTopicFilter(f), f).toEqual(ok);
    }
  });

  it('[MQTT-4.7.3-1] refuses an empty filter', () => {
    expect(validateTopicFilter('')).toEqual(bad('empty'));
  });

  it('[MQTT-4.7.3-2] refuses U+0000', () => {
    expect(validateTopicFilter('a/\u0000')).toEqual(bad('null-character'));
  });

  it('[MQTT-4.7.1-1] # must be last (sport/tennis/#/ranking is not valid)', () => {
    expect(validateTopicFilter('sport/tennis/#/ranking')).toEqual(bad('multi-level-wildcard-not-last'));
    expect(validateTopicFilter('#/')).toEqual(bad('multi-level-wildcard-not-last'));
    expect(validateTopicFilter('##')).toEqual(bad('multi-level-wildcard-not-last'));
  });

  it('[MQTT-4.7.1-1] # must be alone in its level (sport/tennis# is not valid)', () => {
    expect(validateTopicFilter('sport/tennis#')).toEqual(bad('multi-level-wildcard-not-alone'));
    expect(validateTopicFilter('a#')).toEqual(bad('multi-level-wildcard-not-alone'));
  });

  it('[MQTT-4.7.1-2] + must occupy a whole level (sport+ is not valid)', () => {
    for (const f of ['sport+', '+sport', 'sport/+tennis', 'a/b+/c', '++', '+#']) {
      const r = validateTopicFilter(f);
      expect(r.ok, f).toBe(false);
    }
    expect(validateTopicFilter('sport+')).toEqual(bad('single-level-wildcard-not-alone'));
    expect(validateTopicFilter('+sport')).toEqual(bad('single-level-wildcard-not-alone'));
  });

  it('[MQTT-4.7.3-3] refuses a filter over 65535 bytes', () => {
    expect(validateTopicFilter(`${'a/'.repeat(32_766)}#`)).toEqual(ok); // 65533 bytes
    expect(validateTopicFilter('+/'.repeat(32_768))).toEqual(bad('too-long'));
  });
});

describe('parseSharedSubscription', () => {
  it('returns null for an ordinary filter', () => {
    expect(parseSharedSubscription('sport/#')).toBeNull();
    expect(parseSharedSubscription('$SYS/#')).toBeNull();
    expect(parseSharedSubscription('$sharex/g/a')).toBeNull();
  });

  it('splits $share/{ShareName}/{filter} (§4.8.2)', () => {
    expect(parseSharedSubscription('$share/consumer1/sport/tennis/+')).toEqual({
      ok: true,
      group: 'consumer1',
      filter: 'sport/tennis/+',
    });
    expect(parseSharedSubscription('$share/g/#')).toEqual({ ok: true, group: 'g', filter: '#' });
    expect(parseSharedSubscription('$share/g//')).toEqual({ ok: true, group: 'g', filter: '/' });
    expect(parseSharedSubscription('$share/$g/$SYS/x')).toEqual({ ok: true, group: '$g', filter: '$SYS/x' });
  });

  it('[MQTT-4.8.2-1] refuses an empty ShareName', () => {
    expect(parseSharedSubscription('$share//a')).toEqual(bad('share-name-empty'));
    expect(parseSharedSubscription('$share/')).toEqual(bad('share-name-empty'));
  });

  it('[MQTT-4.8.2-2] refuses + or # in the ShareName', () => {
    expect(parseSharedSubscription('$share/g+/a')).toEqual(bad('share-name-invalid'));
    expect(parseSharedSubscription('$share/#')).toEqual(bad('share-name-invalid'));
    expect(parseSharedSubscription('$share/+/a')).toEqual(bad('share-name-invalid'));
  });

  it('[MQTT-4.8.2-2] requires / and a filter after the ShareName', () => {
    expect(parseSharedSubscription('$share/g')).toEqual(bad('share-filter-missing'));
    expect(parseSharedSubscription('$share/g/')).toEqual(bad('share-filter-missing'));
  });

  it('validates the inner filter ([MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.3-2])', () => {
    expect(parseSharedSubscription('$share/g/a/#/b')).toEqual(bad('multi-level-wildcard-not-last'));
    expect(parseSharedSubscription('$share/g/a+')).toEqual(bad('single-level-wildcard-not-alone'));
    expect(parseSharedSubscription('$share/g\u0000/a')).toEqual(bad('null-character'));
  });

  it('[MQTT-4.7.3-3] counts the whole string, prefix included, against 65535 bytes', () => {
    const inner = 'a'.repeat(TOPIC_BYTES_MAX - 9);
    expect(parseSharedSubscription(`$share/g/${inner}`)).toMatchObject({ ok: true });
    expect(parseSharedSubscription(`$share/gg/${inner}`)).toEqual(bad('too-long'));
  });

  it('treats $queue/{filter} as the share group $queue', () => {
    expect(parseSharedSubscription('$queue/jobs/+')).toEqual({
      ok: true,
      group: QUEUE_GROUP,
      filter: 'jobs/+',
    });
    expect(parseSharedSubscription('$queue/')).toEqual(bad('share-filter-missing'));
    expect(parseSharedSubscription('$queue/a#')).toEqual(bad('multi-level-wildcard-not-alone'));
  });
});

describe('isDollarTopic', () => {
  it('[MQTT-4.7.2-1] recognises server-specific topics', () => {
    expect(isDollarTopic('$SYS/broker')).toBe(true);
    expect(isDollarTopic('SYS/$x')).toBe(false);
    expect(isDollarTopic('')).toBe(false);
  });
});
