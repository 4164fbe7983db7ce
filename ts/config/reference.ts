import { envName, type ListenAddress, SCHEMA } from './schema.ts';

function isAddress(v: unknown): v is ListenAddress {
  return typeof v === 'object' && v !== null && 'host' in v && 'port' in v;
}

/** The README's config reference table, rendered from the schema. */
export function renderConfigReference(): string {
  const rows = SCHEMA.map((s) => {
    const def = isAddress(s.default) ? `${s.default.host}:${s.default.port}` : JSON.stringify(s.default);
    return `| \`${s.key}\` | \`${envName(s.key)}\` | \`${def}\` | ${s.doc} |`;
  });
  return ['| key | environment variable | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
