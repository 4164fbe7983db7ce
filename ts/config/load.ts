import { readFile } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import { FerryError } from '../errors.ts';
import { type Config, envName, SCHEMA, ValueError } from './schema.ts';

type Source = { kind: 'default' } | { kind: 'file'; path: string } | { kind: 'env'; name: string };

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
}

function invalid(key: string, value: unknown, reason: string, source: Source): FerryError {
  const where =
    source.kind === 'env' ? ` (from ${source.name})` : source.kind === 'file' ? ` (in ${source.path})` : '';
  return new FerryError(
    'FERRY_ERR_CONFIG_INVALID',
    `invalid config: ${key} = ${describe(value)}${where}: ${reason}`,
  );
}

/** Flatten a TOML document to dotted keys, one level of tables deep. */
function flatten(doc: Record<string, unknown>, path: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(doc)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out.set(`${k}.${k2}`, v2);
    } else {
      out.set(k, v);
    }
  }
  const known = new Set(SCHEMA.map((s) => s.key));
  for (const key of out.keys()) {
    if (!known.has(key)) {
      throw new FerryError('FERRY_ERR_CONFIG_INVALID', `invalid config: unknown key ${key} (in ${path})`);
    }
  }
  return out;
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    node[p] ??= {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts.at(-1) as string] = value;
}

/**
 * Build the effective configuration: embedded defaults, then the TOML file
 * (if any), then `FERRYMQ_*` environment variables. Throws a FerryError whose
 * message is one line naming the bad key, its value and where it came from.
 */
export function resolveConfig(
  fileDoc: Record<string, unknown> | undefined,
  path: string,
  env: NodeJS.ProcessEnv,
): Config {
  const fromFile = fileDoc ? flatten(fileDoc, path) : new Map<string, unknown>();
  const config: Record<string, unknown> = {};
  for (const spec of SCHEMA) {
    const name = envName(spec.key);
    let raw: unknown = spec.default;
    let source: Source = { kind: 'default' };
    let fromEnv = false;
    if (env[name] !== undefined) {
      raw = env[name];
      source = { kind: 'env', name };
      fromEnv = true;
    } else if (fromFile.has(spec.key)) {
      raw = fromFile.get(spec.key);
      source = { kind: 'file', path };
    }
    let value: unknown;
    try {
      value = source.kind === 'default' ? structuredClone(spec.default) : spec.parse(raw, fromEnv);
    } catch (err) {
      if (err instanceof ValueError) throw invalid(spec.key, raw, err.message, source);
      throw err;
    }
    setPath(config, spec.key, value);
  }
  const typed = config as unknown as Config;
  checkCrossKey(typed);
  return typed;
}

function checkCrossKey(config: Config): void {
  const members = config.cluster.members;
  if (members.length > 0 && !members.some((m) => m.id === config.node_id)) {
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      `invalid config: cluster.members does not list node_id ${config.node_id}`,
    );
  }
  const tls = config.tls;
  if ((tls.cert_file === '') !== (tls.key_file === '')) {
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      'invalid config: tls.cert_file and tls.key_file must be set together',
    );
  }
  if (tls.client_cert !== 'none' && tls.ca_file === '') {
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      `invalid config: tls.client_cert = "${tls.client_cert}" needs tls.ca_file`,
    );
  }
  const meta = config.meta;
  const metaTls = [meta.tls_cert_file, meta.tls_key_file, meta.tls_ca_file].filter((f) => f !== '').length;
  if (metaTls !== 0 && metaTls !== 3) {
    // Half of mutual TLS would be no TLS or a node that can reach nobody: refuse it up front.
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      'invalid config: meta.tls_cert_file, meta.tls_key_file and meta.tls_ca_file must be set together (all three or none)',
    );
  }
  if (meta.snapshot_chunk_bytes > meta.rpc_bytes_max - 4096) {
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      `invalid config: meta.snapshot_chunk_bytes (${meta.snapshot_chunk_bytes}) must be at most meta.rpc_bytes_max - 4096 (${meta.rpc_bytes_max - 4096})`,
    );
  }
  if (config.bridge.enabled && !(config.roles.includes('broker') && config.roles.includes('engine'))) {
    // The bridge joins the MQTT broker to the shards: without either there is nothing to join.
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      'invalid config: bridge.enabled = true needs the broker and engine roles',
    );
  }
  const seen = new Map<string, string>();
  for (const [name, addr] of Object.entries(config.listeners)) {
    if (addr.port === 0) continue;
    const k = `${addr.host}:${addr.port}`;
    const other = seen.get(k);
    if (other) {
      throw new FerryError(
        'FERRY_ERR_CONFIG_INVALID',
        `invalid config: listeners.${name} = "${k}" is also used by listeners.${other}`,
      );
    }
    seen.set(k, name);
  }
}

/** Read and resolve a config file; with no path, the embedded defaults plus the environment. */
export async function loadConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  if (path === undefined) return resolveConfig(undefined, '(defaults)', env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FerryError('FERRY_ERR_CONFIG_READ', `cannot read config file ${path}: ${e.code ?? e.message}`, {
      cause: err,
    });
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const detail =
      err instanceof TomlError
        ? `line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`
        : String(err);
    throw new FerryError('FERRY_ERR_CONFIG_READ', `config file ${path} is not valid TOML: ${detail}`, {
      cause: err,
    });
  }
  return resolveConfig(doc, path, env);
}
