import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigReference } from './reference.ts';
import { envName, SCHEMA } from './schema.ts';

describe('config schema', () => {
  it('is documented in the README exactly as the schema says (regenerate: node scripts/gen-config-doc.ts)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const m = /<!-- config-reference:start[^>]*-->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
    expect(m?.[1]).toBe(renderConfigReference());
  });

  it('maps keys to environment variables with __ between section and key', () => {
    expect(envName('node_id')).toBe('FERRYMQ_NODE_ID');
    expect(envName('listeners.mqtt_tls')).toBe('FERRYMQ_LISTENERS__MQTT_TLS');
    expect(new Set(SCHEMA.map((s) => envName(s.key))).size).toBe(SCHEMA.length);
  });

  it('names a unit in every numeric bound except ids', () => {
    for (const s of SCHEMA) {
      if (typeof s.default === 'number' && s.key !== 'node_id')
        expect(s.key).toMatch(/_(ms|bytes|count|max)$/);
    }
  });
});
