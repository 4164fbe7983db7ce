/**
 * Does one topic filter match one topic name (§4.7)? For the rare
 * filter-against-many-topics case (retained messages); routing uses the
 * TopicTree instead. [MQTT-4.7.2-1]: `#` and `+` at the first level do not
 * match topics starting with `$`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('#') || filter.startsWith('+'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
