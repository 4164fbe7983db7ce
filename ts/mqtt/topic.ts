/**
 * Topic Name and Topic Filter checks (OASIS MQTT 5.0 §4.7, §4.8.2; MQTT 3.1.1 §4.7).
 *
 * Normative ids below use MQTT 5.0 numbering. The 3.1.1 rules are the same
 * checks under other ids: 3.1.1 [MQTT-4.7.1-1] (no wildcards in names),
 * [MQTT-4.7.1-2] (`#`), [MQTT-4.7.1-3] (`+`), [MQTT-4.7.3-1..3] (length, U+0000).
 *
 * What is deliberately absent: UTF-8 well-formedness [MQTT-1.5.4-1] and the
 * other disallowed code points [MQTT-1.5.4-2] belong to the packet decoder,
 * which sees the bytes; these helpers see JavaScript strings. Mapping a failure
 * to a wire reason code (0x8F Topic Filter invalid, 0x90 Topic Name invalid,
 * 0x9E Shared Subscriptions not supported) is the handler's job.
 *
 * Every function here is allocation-free on the hot path: results are frozen
 * singletons, and the UTF-8 length is only computed for strings long enough to
 * possibly exceed the limit.
 */
import { Buffer } from 'node:buffer';

/** [MQTT-4.7.3-3]: a Topic Name or Filter MUST NOT encode to more than 65,535 bytes. */
export const TOPIC_BYTES_MAX = 65_535;

/** Share group used for the non-standard `$queue/{filter}` form (as EMQX does). */
export const QUEUE_GROUP = '$queue';

const SHARE_PREFIX = '$share/';
const QUEUE_PREFIX = '$queue/';

/** Why a topic name, topic filter or shared subscription was refused. Stable strings. */
export const TopicInvalidReasons = {
  empty: 'a topic name or filter must be at least one character long [MQTT-4.7.3-1]',
  'null-character': 'a topic name or filter must not contain U+0000 [MQTT-4.7.3-2]',
  'too-long': 'a topic name or filter must not encode to more than 65535 bytes [MQTT-4.7.3-3]',
  'wildcard-in-topic-name': 'a topic name must not contain + or # [MQTT-3.3.2-2]',
  'multi-level-wildcard-not-last': '# must be the last character of a topic filter [MQTT-4.7.1-1]',
  'multi-level-wildcard-not-alone': '# must occupy a whole level of a topic filter [MQTT-4.7.1-1]',
  'single-level-wildcard-not-alone': '+ must occupy a whole level of a topic filter [MQTT-4.7.1-2]',
  'share-name-empty': 'a $share ShareName must be at least one character long [MQTT-4.8.2-1]',
  'share-name-invalid': 'a $share ShareName must not contain /, + or # [MQTT-4.8.2-2]',
  'share-filter-missing': 'a ShareName must be followed by / and a topic filter [MQTT-4.8.2-2]',
} as const;

export type TopicInvalidReason = keyof typeof TopicInvalidReasons;

export type TopicValid = { readonly ok: true };
export type TopicInvalid = { readonly ok: false; readonly reason: TopicInvalidReason };
export type TopicCheck = TopicValid | TopicInvalid;

/** A parsed `$share/{group}/{filter}` or `$queue/{filter}` subscription. */
export type SharedSubscription = { readonly ok: true; readonly group: string; readonly filter: string };

const VALID: TopicValid = Object.freeze({ ok: true });
const INVALID = Object.freeze(
  Object.fromEntries(
    Object.keys(TopicInvalidReasons).map((r) => [r, Object.freeze({ ok: false, reason: r })]),
  ),
) as { readonly [R in TopicInvalidReason]: TopicInvalid };

const NUL = 0x00;
const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

/** A UTF-16 code unit never needs more than 3 UTF-8 bytes, so shorter strings cannot be too long. */
const UNITS_ALWAYS_FIT = Math.floor(TOPIC_BYTES_MAX / 3);

function tooLong(s: string): boolean {
  return s.length > UNITS_ALWAYS_FIT && Buffer.byteLength(s, 'utf8') > TOPIC_BYTES_MAX;
}

/** Check a Topic Name as it appears in PUBLISH (or a Will Topic). */
export function validateTopicName(name: string): TopicCheck {
  const n = name.length;
  if (n === 0) return INVALID.empty; // [MQTT-4.7.3-1]
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c === NUL) return INVALID['null-character']; // [MQTT-4.7.3-2]
    if (c === PLUS || c === HASH) return INVALID['wildcard-in-topic-name']; // [MQTT-3.3.2-2], [MQTT-4.7.0-1]
  }
  if (tooLong(name)) return INVALID['too-long']; // [MQTT-4.7.3-3]
  return VALID;
}

/**
 * Check a Topic Filter as it appears in SUBSCRIBE or UNSUBSCRIBE. A `$share/...`
 * filter is checked here as a plain filter; use parseSharedSubscription first
 * to split off and check the ShareName.
 */
export function validateTopicFilter(filter: string): TopicCheck {
  const n = filter.length;
  if (n === 0) return INVALID.empty; // [MQTT-4.7.3-1]
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === NUL) return INVALID['null-character']; // [MQTT-4.7.3-2]
    if (c === HASH) {
      // [MQTT-4.7.1-1]: on its own or after a separator, and last.
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return INVALID['multi-level-wildcard-not-alone'];
      if (i !== n - 1) return INVALID['multi-level-wildcard-not-last'];
    } else if (c === PLUS) {
      // [MQTT-4.7.1-2]: it must occupy an entire level.
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return INVALID['single-level-wildcard-not-alone'];
      if (i < n - 1 && filter.charCodeAt(i + 1) !== SLASH) return INVALID['single-level-wildcard-not-alone'];
    }
  }
  if (tooLong(filter)) return INVALID['too-long']; // [MQTT-4.7.3-3]
  return VALID;
}

/**
 * Split a shared subscription into its group and filter.
 *
 * - `$share/{ShareName}/{filter}` (MQTT 5.0 §4.8.2): ShareName non-empty
 *   [MQTT-4.8.2-1], without `/`, `+`, `#`, and followed by `/` and a filter
 *   [MQTT-4.8.2-2]. The filter is validated with validateTopicFilter.
 * - `$queue/{filter}`: a single group named QUEUE_GROUP, so it is the same
 *   subscription as `$share/$queue/{filter}`.
 *
 * Returns null when the filter is not a shared subscription (it is then not
 * validated: call validateTopicFilter). Whether an MQTT 3.1.1 session may use
 * shared subscriptions at all is the caller's policy.
 */
export function parseSharedSubscription(filter: string): SharedSubscription | TopicInvalid | null {
  let group: string;
  let rest: string;
  if (filter.startsWith(SHARE_PREFIX)) {
    const start = SHARE_PREFIX.length;
    let end = start;
    for (; end < filter.length; end++) {
      const c = filter.charCodeAt(end);
      if (c === SLASH) break;
      if (c === PLUS || c === HASH) return INVALID['share-name-invalid']; // [MQTT-4.8.2-2]
      if (c === NUL) return INVALID['null-character']; // [MQTT-4.7.3-2]
    }
    if (end === start) return INVALID['share-name-empty']; // [MQTT-4.8.2-1]
    if (end >= filter.length - 1) return INVALID['share-filter-missing']; // [MQTT-4.8.2-2]
    group = filter.slice(start, end);
    rest = filter.slice(end + 1);
  } else if (filter.startsWith(QUEUE_PREFIX)) {
    if (filter.length === QUEUE_PREFIX.length) return INVALID['share-filter-missing'];
    group = QUEUE_GROUP;
    rest = filter.slice(QUEUE_PREFIX.length);
  } else {
    return null;
  }
  const check = validateTopicFilter(rest);
  if (!check.ok) return check;
  // [MQTT-4.7.3-3] applies to the whole string on the wire, prefix included.
  if (tooLong(filter)) return INVALID['too-long'];
  return { ok: true, group, filter: rest };
}

/** Topics starting with `$` are server-specific (e.g. `$SYS/...`) [MQTT-4.7.2-1]. */
export function isDollarTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR;
}
