// Generates the Kafka protocol codec from Apache Kafka's JSON message
// definitions in ts/kafka/protocol/specs/ (copied there by
// scripts/fetch-kafka-specs.ts) into ts/kafka/protocol/generated/:
// one file per API (request and response types, defaults, encoders and
// decoders for every valid version), headers.ts (RequestHeader v0-2,
// ResponseHeader v0-1) and index.ts (the API table). The output is committed;
// ts/kafka/protocol/generated.test.ts regenerates it and fails on any change.
//
//   node scripts/gen-kafka-protocol.ts [--out DIR]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKA_VERSION, SERVED_APIS } from './fetch-kafka-specs.ts';

export const SPECS_DIR = fileURLToPath(new URL('../ts/kafka/protocol/specs/', import.meta.url));
export const GENERATED_DIR = fileURLToPath(new URL('../ts/kafka/protocol/generated/', import.meta.url));

// ---------------------------------------------------------------- the spec model

/** An inclusive version range; `null` is "none". */
export type Versions = { lo: number; hi: number } | null;

export interface FieldSpec {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  ignorable?: boolean;
  default?: string | number | boolean;
  flexibleVersions?: string;
  fields?: FieldSpec[];
  about?: string;
}

export interface MessageSpec {
  apiKey?: number;
  type: 'request' | 'response' | 'header';
  name: string;
  validVersions: string;
  flexibleVersions: string;
  fields: FieldSpec[];
  commonStructs?: { name: string; versions?: string; fields: FieldSpec[] }[];
  latestVersionUnstable?: boolean;
}

export function parseVersions(s: string | undefined): Versions {
  if (s === undefined || s === 'none') return null;
  const plus = /^(\d+)\+$/.exec(s);
  if (plus) return { lo: Number(plus[1]), hi: Number.POSITIVE_INFINITY };
  const range = /^(\d+)-(\d+)$/.exec(s);
  if (range) return { lo: Number(range[1]), hi: Number(range[2]) };
  if (/^\d+$/.test(s)) return { lo: Number(s), hi: Number(s) };
  throw new Error(`bad version range ${JSON.stringify(s)}`);
}

export function inVersions(v: number, r: Versions): boolean {
  return r !== null && v >= r.lo && v <= r.hi;
}

/** Kafka's JSON files carry // comments; strip them outside strings. */
export function stripComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else out += c;
  }
  return out;
}

export function loadSpec(name: string): MessageSpec {
  return JSON.parse(stripComments(readFileSync(join(SPECS_DIR, `${name}.json`), 'utf8'))) as MessageSpec;
}

/** Field kinds after resolving `[]X` and struct references. */
export type FieldType =
  | { kind: 'primitive'; name: string }
  | { kind: 'struct'; struct: StructDef }
  | { kind: 'array'; element: FieldType };

export interface FieldDef {
  spec: FieldSpec;
  /** camelCase property name. */
  prop: string;
  type: FieldType;
  versions: Versions;
  nullable: Versions;
  tagged: Versions;
  flexibleOverride: Versions | undefined;
}

export interface StructDef {
  name: string;
  fields: FieldDef[];
}

/** One message (request, response or header) resolved into structs. */
export interface MessageDef {
  spec: MessageSpec;
  name: string;
  valid: { lo: number; hi: number };
  flexible: Versions;
  root: StructDef;
  /** Every struct, root first, in definition order. */
  structs: StructDef[];
}

export const PRIMITIVES = [
  'int8',
  'int16',
  'int32',
  'int64',
  'uint16',
  'uint32',
  'float64',
  'bool',
  'string',
  'bytes',
  'records',
  'uuid',
] as const;

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

export function resolveMessage(spec: MessageSpec, validOverride?: { lo: number; hi: number }): MessageDef {
  const valid = validOverride ?? parseVersions(spec.validVersions);
  if (valid === null || !Number.isFinite(valid.hi)) throw new Error(`${spec.name}: bad validVersions`);
  const structs: StructDef[] = [];
  const common = new Map((spec.commonStructs ?? []).map((c) => [c.name, c]));
  const commonDefs = new Map<string, StructDef>();
  const makeStruct = (name: string, fields: FieldSpec[]): StructDef => {
    if (structs.some((s) => s.name === name)) throw new Error(`${spec.name}: struct ${name} defined twice`);
    const def: StructDef = { name, fields: [] };
    structs.push(def);
    def.fields = fields.map(resolveField);
    return def;
  };
  const resolveType = (type: string, field: FieldSpec): FieldType => {
    if (type.startsWith('[]')) return { kind: 'array', element: resolveType(type.slice(2), { ...field }) };
    if ((PRIMITIVES as readonly string[]).includes(type)) return { kind: 'primitive', name: type };
    if (field.fields) return { kind: 'struct', struct: makeStruct(type, field.fields) };
    const c = common.get(type);
    if (!c) throw new Error(`${spec.name}: unknown type ${type}`);
    let def = commonDefs.get(type);
    if (!def) {
      def = makeStruct(type, c.fields);
      commonDefs.set(type, def);
    }
    return { kind: 'struct', struct: def };
  };
  const resolveField = (f: FieldSpec): FieldDef => ({
    spec: f,
    prop: lowerFirst(f.name),
    type: resolveType(f.type, f),
    versions: parseVersions(f.versions),
    nullable: parseVersions(f.nullableVersions),
    tagged: parseVersions(f.taggedVersions),
    flexibleOverride: f.flexibleVersions === undefined ? undefined : parseVersions(f.flexibleVersions),
  });
  const root = makeStruct(spec.name, spec.fields);
  return { spec, name: spec.name, valid, flexible: parseVersions(spec.flexibleVersions), root, structs };
}

// ---------------------------------------------------------------- code generation helpers

/** A TypeScript condition on `version` for a range, within the message's valid versions. */
function cond(r: Versions, valid: { lo: number; hi: number }): string {
  if (r === null || r.lo > valid.hi || r.hi < valid.lo) return 'false';
  const parts: string[] = [];
  if (r.lo > valid.lo) parts.push(`version >= ${r.lo}`);
  if (r.hi < valid.hi) parts.push(`version <= ${r.hi}`);
  return parts.length === 0 ? 'true' : parts.join(' && ');
}

function anyOverlap(r: Versions, valid: { lo: number; hi: number }): boolean {
  return cond(r, valid) !== 'false';
}

function tsPrimitive(name: string): string {
  switch (name) {
    case 'int64':
      return 'bigint';
    case 'bool':
      return 'boolean';
    case 'string':
    case 'uuid':
      return 'string';
    case 'bytes':
    case 'records':
      return 'Buffer';
    default:
      return 'number';
  }
}

function tsType(t: FieldType): string {
  if (t.kind === 'primitive') return tsPrimitive(t.name);
  if (t.kind === 'struct') return t.struct.name;
  return `${tsType(t.element)}[]`;
}

const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';

function defaultExpr(f: FieldDef): string {
  const d = f.spec.default;
  const t = f.type;
  if (d === 'null') return 'null';
  if (t.kind === 'array') return '[]';
  if (t.kind === 'struct') return `default${t.struct.name}()`;
  switch (t.name) {
    case 'bool':
      return d === true || d === 'true' ? 'true' : 'false';
    case 'string':
      return JSON.stringify(d === undefined ? '' : String(d));
    case 'uuid':
      return JSON.stringify(ZERO_UUID);
    case 'bytes':
      return 'Buffer.alloc(0)';
    case 'records':
      return anyNullable(f) ? 'null' : 'Buffer.alloc(0)';
    case 'int64':
      return `${d === undefined ? 0n : BigInt(d)}n`;
    case 'float64':
      return String(d === undefined ? 0 : Number(d));
    default:
      return String(d === undefined ? 0 : Number(d));
  }
}

function anyNullable(f: FieldDef): boolean {
  return f.nullable !== null;
}

function fieldTsType(f: FieldDef): string {
  const base = tsType(f.type);
  return anyNullable(f) || defaultExpr(f) === 'null' ? `${base} | null` : base;
}

/** Least bytes one value of this type takes on the wire, over the valid versions. */
function minBytes(t: FieldType, msg: MessageDef, range: Versions): number {
  if (t.kind === 'array') return 1;
  if (t.kind === 'struct') return structMinBytes(t.struct, msg, range);
  switch (t.name) {
    case 'int8':
    case 'bool':
      return 1;
    case 'int16':
    case 'uint16':
      return 2;
    case 'int32':
    case 'uint32':
      return 4;
    case 'int64':
    case 'float64':
      return 8;
    case 'uuid':
      return 16;
    default:
      return 1; // a compact length
  }
}

/** Over the versions in `range` (those in which the struct can appear). */
function structMinBytes(s: StructDef, msg: MessageDef, range: Versions): number {
  let best = Number.POSITIVE_INFINITY;
  for (let v = msg.valid.lo; v <= msg.valid.hi; v++) {
    if (!inVersions(v, range)) continue;
    let n = inVersions(v, msg.flexible) ? 1 : 0;
    for (const f of s.fields) {
      if (inVersions(v, f.versions) && !inVersions(v, f.tagged))
        n += inVersions(v, f.nullable) ? 1 : minBytes(f.type, msg, range);
    }
    best = Math.min(best, n);
  }
  return Number.isFinite(best) ? best : 1;
}

function compactExpr(f: FieldDef, msg: MessageDef): string {
  if (f.flexibleOverride === undefined) {
    const m = cond(msg.flexible, msg.valid);
    return m === 'true' || m === 'false' ? m : 'flexible';
  }
  const c = cond(f.flexibleOverride, msg.valid);
  return c === 'true' || c === 'false' ? c : `(${c})`;
}

interface Ctx {
  msg: MessageDef;
  /** The struct and field, for error messages. */
  where: string;
}

function readPrimitive(name: string, r: string, compact: string, nullable: boolean): string {
  switch (name) {
    case 'string':
      return nullable ? `${r}.nullableString(${compact})` : `${r}.string(${compact})`;
    case 'bytes':
    case 'records':
      return nullable ? `${r}.nullableBytes(${compact})` : `${r}.bytes(${compact})`;
    default:
      return `${r}.${name}()`;
  }
}

/** Statements that read field `f` from reader `r` into `target` (already declared). */
function emitRead(f: FieldDef, target: string, r: string, ctx: Ctx, ind: string): string[] {
  const { msg } = ctx;
  const nc = cond(f.nullable, msg.valid);
  const compact = compactExpr(f, msg);
  const t = f.type;
  if (t.kind === 'primitive') {
    if (nc === 'true' || nc === 'false')
      return [`${ind}${target} = ${readPrimitive(t.name, r, compact, nc === 'true')};`];
    return [
      `${ind}${target} = ${nc} ? ${readPrimitive(t.name, r, compact, true)} : ${readPrimitive(t.name, r, compact, false)};`,
    ];
  }
  if (t.kind === 'struct') {
    const read = `read${t.struct.name}(${r}, version)`;
    if (nc === 'false') return [`${ind}${target} = ${read};`];
    if (nc === 'true') return [`${ind}${target} = ${r}.structPresent() ? ${read} : null;`];
    return [`${ind}${target} = !(${nc}) || ${r}.structPresent() ? ${read} : null;`];
  }
  const el = t.element;
  let elemRead: string;
  if (el.kind === 'primitive') elemRead = readPrimitive(el.name, r, compact, false);
  else if (el.kind === 'struct') elemRead = `read${el.struct.name}(${r}, version)`;
  else throw new Error(`${ctx.where}: nested arrays are not in Kafka's format`);
  const nullableArg = nc === 'true' || nc === 'false' ? nc : `(${nc})`;
  const out = [
    `${ind}{`,
    `${ind}  const n = ${r}.arrayLength(${compact}, ${nullableArg}, ${minBytes(el, msg, f.versions)});`,
    `${ind}  const a: ${tsType(el)}[] = [];`,
    `${ind}  for (let i = 0; i < n; i++) a.push(${elemRead});`,
  ];
  if (nc === 'false') out.push(`${ind}  ${target} = a;`);
  else out.push(`${ind}  ${target} = n < 0 ? null : a;`);
  out.push(`${ind}}`);
  return out;
}

function writePrimitive(name: string, w: string, x: string, compact: string, nullable: boolean): string {
  switch (name) {
    case 'string':
      return nullable ? `${w}.nullableString(${x}, ${compact})` : `${w}.string(${x}, ${compact})`;
    case 'bytes':
    case 'records':
      return nullable ? `${w}.nullableBytes(${x}, ${compact})` : `${w}.bytes(${x}, ${compact})`;
    default:
      return `${w}.${name}(${x})`;
  }
}

/** Statements that write value `x` of field `f` to writer `w`. */
function emitWrite(f: FieldDef, x: string, w: string, ctx: Ctx, ind: string): string[] {
  const { msg } = ctx;
  const nc = cond(f.nullable, msg.valid);
  const compact = compactExpr(f, msg);
  const tsNullable = fieldTsType(f).endsWith('| null');
  const t = f.type;
  const out: string[] = [];
  // Narrow away null where this version cannot carry it.
  const guard = (body: string[]): string[] => {
    if (!tsNullable || nc === 'true') return body;
    if (nc === 'false')
      return [`${ind}if (${x} === null) throw nullField('${ctx.where}', version);`, ...body];
    return [`${ind}if (${x} === null && !(${nc})) throw nullField('${ctx.where}', version);`, ...body];
  };
  if (t.kind === 'primitive') {
    if (nc === 'false' || !tsNullable)
      return guard([`${ind}${writePrimitive(t.name, w, x, compact, false)};`]);
    if (nc === 'true') return [`${ind}${writePrimitive(t.name, w, x, compact, true)};`];
    return guard([`${ind}${writePrimitive(t.name, w, x, compact, true)};`]);
  }
  if (t.kind === 'struct') {
    const write = (v: string) => `write${t.struct.name}(${w}, version, ${v})`;
    if (nc === 'false' || !tsNullable) return guard([`${ind}${write(x)};`]);
    if (nc === 'true') {
      out.push(`${ind}${w}.structPresent(${x} !== null);`, `${ind}if (${x} !== null) ${write(x)};`);
      return out;
    }
    return guard([
      `${ind}if (${nc}) ${w}.structPresent(${x} !== null);`,
      `${ind}if (${x} !== null) ${write(x)};`,
    ]);
  }
  const el = t.element;
  let elemWrite: string;
  if (el.kind === 'primitive') elemWrite = writePrimitive(el.name, w, 'e', compact, false);
  else if (el.kind === 'struct') elemWrite = `write${el.struct.name}(${w}, version, e)`;
  else throw new Error(`${ctx.where}: nested arrays are not in Kafka's format`);
  if (nc === 'false' || !tsNullable) {
    return guard([
      `${ind}${w}.arrayLength(${x}${tsNullable ? '!' : ''}.length, ${compact});`,
      `${ind}for (const e of ${x}${tsNullable ? '!' : ''}) ${elemWrite};`,
    ]);
  }
  return guard([
    `${ind}${w}.arrayLength(${x} === null ? null : ${x}.length, ${compact});`,
    `${ind}if (${x} !== null) for (const e of ${x}) ${elemWrite};`,
  ]);
}

function emitStruct(s: StructDef, msg: MessageDef): string[] {
  const out: string[] = [];
  const flexAny = anyOverlap(msg.flexible, msg.valid);
  // Type
  out.push(`export interface ${s.name} {`);
  for (const f of s.fields) {
    if (!anyOverlap(f.versions, msg.valid)) continue;
    if (f.spec.about)
      out.push(`  /** ${f.spec.about.replace(/\*\//g, '*\\/')} (versions ${f.spec.versions}) */`);
    out.push(`  ${f.prop}: ${fieldTsType(f)};`);
  }
  if (flexAny) {
    out.push('  /** Tagged fields this codec does not know, kept and written back as they came. */');
    out.push('  unknownTaggedFields?: TaggedField[];');
  }
  out.push('}', '');
  const fields = s.fields.filter((f) => anyOverlap(f.versions, msg.valid));
  // Default
  out.push(`export function default${s.name}(): ${s.name} {`);
  out.push('  return {');
  for (const f of fields) out.push(`    ${f.prop}: ${defaultExpr(f)},`);
  out.push('  };', '}', '');
  const flexCond = cond(msg.flexible, msg.valid);
  // Reader
  out.push(`export function read${s.name}(r: KafkaReader, version: number): ${s.name} {`);
  if (flexAny) out.push(`  const flexible = ${flexCond};`);
  for (const f of fields) out.push(`  let _${f.prop}: ${fieldTsType(f)} = ${defaultExpr(f)};`);
  for (const f of fields) {
    const ctx = { msg, where: `${s.name}.${f.spec.name}` };
    const regular = regularRange(f);
    const c = cond(regular, msg.valid);
    if (c === 'false') continue;
    if (c === 'true') out.push(...emitRead(f, `_${f.prop}`, 'r', ctx, '  '));
    else out.push(`  if (${c}) {`, ...emitRead(f, `_${f.prop}`, 'r', ctx, '    '), '  }');
  }
  if (flexAny) {
    out.push('  let unknownTaggedFields: TaggedField[] | undefined;');
    out.push('  if (flexible) {');
    out.push('    const count = r.taggedCount();');
    out.push('    for (let i = 0; i < count; i++) {');
    out.push('      const tag = r.uvarint();');
    out.push('      const t = r.sub(r.uvarint());');
    let first = true;
    for (const f of fields) {
      const c = cond(f.tagged, msg.valid);
      if (c === 'false') continue;
      const ctx = { msg, where: `${s.name}.${f.spec.name}` };
      const test = c === 'true' ? `tag === ${f.spec.tag}` : `tag === ${f.spec.tag} && ${c}`;
      out.push(
        `      ${first ? '' : '} else '}if (${test}) {`,
        ...emitRead(f, `_${f.prop}`, 't', ctx, '        '),
      );
      first = false;
    }
    if (first)
      out.push('      (unknownTaggedFields ??= []).push({ tag, data: t.buf.subarray(t.offset, t.end) });');
    else
      out.push(
        '      } else {',
        '        (unknownTaggedFields ??= []).push({ tag, data: t.buf.subarray(t.offset, t.end) });',
        '      }',
      );
    out.push('    }', '  }');
  }
  out.push(`  const value: ${s.name} = { ${fields.map((f) => `${f.prop}: _${f.prop}`).join(', ')} };`);
  if (flexAny) out.push('  if (unknownTaggedFields) value.unknownTaggedFields = unknownTaggedFields;');
  out.push('  return value;', '}', '');
  // Writer
  out.push(`export function write${s.name}(w: KafkaWriter, version: number, value: ${s.name}): void {`);
  if (flexAny) out.push(`  const flexible = ${flexCond};`);
  for (const f of fields) {
    const ctx = { msg, where: `${s.name}.${f.spec.name}` };
    const x = `value.${f.prop}`;
    const c = cond(regularRange(f), msg.valid);
    const present = f.tagged === null ? c : cond(unionRange(f), msg.valid);
    const check =
      !f.spec.ignorable && present !== 'true'
        ? `if (${differsFromDefault(f, x)}) throw unsupportedField('${ctx.where}', version);`
        : undefined;
    if (c === 'true') out.push(...emitWrite(f, x, 'w', ctx, '  '));
    else if (c !== 'false') {
      out.push(`  if (${c}) {`, ...emitWrite(f, x, 'w', ctx, '    '));
      if (check && f.tagged === null) out.push('  } else {', `    ${check}`);
      out.push('  }');
    } else if (check && f.tagged === null) out.push(`  ${check}`);
    if (f.tagged !== null && check) out.push(`  if (!(${present})) {`, `    ${check}`, '  }');
  }
  if (flexAny) {
    out.push('  if (flexible) {');
    out.push('    const tagged: TaggedField[] = [];');
    for (const f of fields) {
      const c = cond(f.tagged, msg.valid);
      if (c === 'false') continue;
      const ctx = { msg, where: `${s.name}.${f.spec.name}` };
      const x = `value.${f.prop}`;
      const test = `${c === 'true' ? '' : `${c} && `}${differsFromDefault(f, x)}`;
      out.push(
        `    if (${test}) {`,
        `      tagged.push({ tag: ${f.spec.tag}, data: KafkaWriter.encode((t) => {`,
        ...emitWrite(f, x, 't', ctx, '        '),
        '      }) });',
        '    }',
      );
    }
    out.push('    w.taggedFields(tagged, value.unknownTaggedFields);', '  }');
  }
  out.push('}', '');
  return out;
}

/**
 * A cheap test that `x` differs from the field's default (Kafka writes a
 * tagged field, and refuses a field the version lacks, only then).
 */
function differsFromDefault(f: FieldDef, x: string): string {
  const d = defaultExpr(f);
  const nullable = fieldTsType(f).endsWith('| null');
  if (d === 'null') return `${x} !== null`;
  const t = f.type;
  if (t.kind === 'struct') return `!isSameValue(${x}, ${d})`;
  if (t.kind === 'array' || d === 'Buffer.alloc(0)') {
    return nullable ? `(${x} === null || ${x}.length > 0)` : `${x}.length > 0`;
  }
  return `${x} !== ${d}`;
}

/** Versions in which the field is a regular (untagged) field. */
function regularRange(f: FieldDef): Versions {
  if (f.tagged === null) return f.versions;
  if (f.versions === null) return null;
  // Kafka requires taggedVersions to be a suffix of versions.
  if (f.tagged.lo <= f.versions.lo) return null;
  return { lo: f.versions.lo, hi: f.tagged.lo - 1 };
}

function unionRange(f: FieldDef): Versions {
  return f.versions;
}

function header(): string {
  return `// generated by scripts/gen-kafka-protocol.ts from Kafka ${KAFKA_VERSION} — do not edit\n`;
}

function emitMessage(msg: MessageDef, out: string[]): void {
  const { lo, hi } = msg.valid;
  const flex = msg.flexible === null ? 'never' : `from version ${msg.flexible.lo}`;
  out.push(`// ${msg.name}: versions ${lo}-${hi}, flexible ${flex}.`, '');
  for (const s of msg.structs) out.push(...emitStruct(s, msg));
  const n = msg.name;
  out.push(
    `export function encode${n}(version: number, value: ${n}): Buffer {`,
    `  if (version < ${lo} || version > ${hi}) throw new KafkaProtocolError('unsupported-version', \`${n} version \${version}\`);`,
    '  const w = new KafkaWriter();',
    `  write${n}(w, version, value);`,
    '  return w.finish();',
    '}',
    '',
    `export function decode${n}(version: number, r: KafkaReader): ${n} {`,
    `  if (version < ${lo} || version > ${hi}) throw new KafkaProtocolError('unsupported-version', \`${n} version \${version}\`);`,
    `  return read${n}(r, version);`,
    '}',
    '',
  );
}

function imports(depth: string): string[] {
  return [
    `import { KafkaProtocolError } from '${depth}/errors.ts';`,
    `import { KafkaReader, type TaggedField } from '${depth}/reader.ts';`,
    `import { isSameValue, KafkaWriter, nullField, unsupportedField } from '${depth}/writer.ts';`,
    '',
  ];
}

export function fileNameOf(api: string): string {
  return api.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

export interface ApiDef {
  api: string;
  apiKey: number;
  request: MessageDef;
  response: MessageDef;
}

export function loadApis(): ApiDef[] {
  return SERVED_APIS.map((api) => {
    const request = resolveMessage(loadSpec(`${api}Request`));
    const response = resolveMessage(loadSpec(`${api}Response`));
    const apiKey = request.spec.apiKey;
    if (apiKey === undefined || apiKey !== response.spec.apiKey) throw new Error(`${api}: api keys differ`);
    const names = new Set<string>();
    for (const s of [...request.structs, ...response.structs]) {
      if (names.has(s.name)) throw new Error(`${api}: struct name ${s.name} used twice`);
      names.add(s.name);
    }
    return { api, apiKey, request, response };
  });
}

/** RequestHeader is generated for v0-2 (the jar lists 1-2; v0 is v1 without ClientId). */
export function loadHeaders(): MessageDef[] {
  return [
    resolveMessage(loadSpec('RequestHeader'), { lo: 0, hi: 2 }),
    resolveMessage(loadSpec('ResponseHeader')),
  ];
}

/**
 * One module for these messages; `runtime` is where errors.ts, reader.ts and
 * writer.ts are, as seen from the module ('..' for generated/).
 */
export function generateModule(messages: MessageDef[], runtime = '..'): string {
  const out = [header(), ...imports(runtime)];
  for (const m of messages) emitMessage(m, out);
  return out.join('\n');
}

/** Every generated file, by name, as text. */
export function generate(): Map<string, string> {
  const files = new Map<string, string>();
  const apis = loadApis();
  for (const a of apis) files.set(`${fileNameOf(a.api)}.ts`, generateModule([a.request, a.response]));
  const headers = loadHeaders();
  files.set('headers.ts', generateModule(headers));

  const idx = [header()];
  idx.push(`export const KAFKA_SPEC_VERSION = '${KAFKA_VERSION}';`, '');
  for (const a of apis) idx.push(`export * as ${a.api} from './${fileNameOf(a.api)}.ts';`);
  idx.push("export * from './headers.ts';", '');
  idx.push('export const ApiKey = {');
  for (const a of apis) idx.push(`  ${a.api}: ${a.apiKey},`);
  idx.push('} as const;', '', 'export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];', '');
  idx.push(
    'export interface ApiInfo {',
    '  name: string;',
    '  apiKey: number;',
    '  /** Lowest version the codec handles. */',
    '  minVersion: number;',
    '  /** Highest stable version (what a broker may advertise). */',
    '  maxVersion: number;',
    '  /** Highest version the codec handles; above maxVersion only when the spec marks the latest as unstable. */',
    '  maxCodecVersion: number;',
    '  /** First flexible (KIP-482) version of the request, or null if none is. */',
    '  flexibleFrom: number | null;',
    '}',
    '',
    'export const apiTable: ReadonlyMap<number, ApiInfo> = new Map<number, ApiInfo>([',
  );
  for (const a of apis) {
    const { lo, hi } = a.request.valid;
    const rhi = a.response.valid.hi;
    const codecHi = Math.min(hi, rhi);
    const stableHi = a.request.spec.latestVersionUnstable ? codecHi - 1 : codecHi;
    const flex = a.request.flexible === null ? 'null' : String(a.request.flexible.lo);
    idx.push(
      `  [${a.apiKey}, { name: '${a.api}', apiKey: ${a.apiKey}, minVersion: ${Math.max(lo, a.response.valid.lo)}, maxVersion: ${stableHi}, maxCodecVersion: ${codecHi}, flexibleFrom: ${flex} }],`,
    );
  }
  idx.push(']);', '');
  idx.push(
    '/** Request header version for an API version: 2 when the request is flexible, else 1. */',
    'export function requestHeaderVersion(apiKey: number, version: number): number {',
    '  const flex = apiTable.get(apiKey)?.flexibleFrom;',
    '  return flex !== undefined && flex !== null && version >= flex ? 2 : 1;',
    '}',
    '',
    '/** Response header version: 1 when flexible, else 0; ApiVersions always answers with v0 (KIP-511). */',
    'export function responseHeaderVersion(apiKey: number, version: number): number {',
    `  if (apiKey === ${apis.find((a) => a.api === 'ApiVersions')?.apiKey}) return 0;`,
    '  const flex = apiTable.get(apiKey)?.flexibleFrom;',
    '  return flex !== undefined && flex !== null && version >= flex ? 1 : 0;',
    '}',
    '',
  );
  files.set('index.ts', idx.join('\n'));
  return files;
}

export function writeGenerated(dir: string): string[] {
  const files = generate();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return [...files.keys()];
}

if (import.meta.main) {
  const i = process.argv.indexOf('--out');
  const dir = i >= 0 ? (process.argv[i + 1] ?? GENERATED_DIR) : GENERATED_DIR;
  const names = writeGenerated(dir);
  console.log(`${names.length} files written to ${dir}`);
}
