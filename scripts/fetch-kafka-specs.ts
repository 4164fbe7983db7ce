// Downloads the kafka-clients jar of one pinned Apache Kafka version from
// Maven Central, checks its SHA-1, extracts the JSON message definitions
// (common/message/*.json) into
// ~/.cache/ferrymq/kafka-specs/<version>/, and copies the ones for the APIs
// FerryMQ serves (plus the request and response headers) into
// ts/kafka/protocol/specs/. The copies are committed, so regenerating the
// codec (scripts/gen-kafka-protocol.ts) needs no network.
//
//   node scripts/fetch-kafka-specs.ts
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '4.0.0';
/** From https://repo1.maven.org/maven2/org/apache/kafka/kafka-clients/4.0.0/kafka-clients-4.0.0.jar.sha1 */
const JAR_SHA1 = '883a768864948887d44f53f16ffac44dd952f003';
const JAR_URL = `https://repo1.maven.org/maven2/org/apache/kafka/kafka-clients/${KAFKA_VERSION}/kafka-clients-${KAFKA_VERSION}.jar`;
// In the 4.0.0 jar the definitions sit at common/message/, not under org/apache/kafka/.
const SPEC_DIR_IN_JAR = 'common/message';

/** The APIs FerryMQ serves (issue 6, Kafka 4.0 baseline), by spec name. */
export const SERVED_APIS = [
  'ApiVersions',
  'Metadata',
  'Produce',
  'Fetch',
  'ListOffsets',
  'OffsetForLeaderEpoch',
  'FindCoordinator',
  'JoinGroup',
  'SyncGroup',
  'Heartbeat',
  'LeaveGroup',
  'OffsetCommit',
  'OffsetFetch',
  'ListGroups',
  'DescribeGroups',
  'DeleteGroups',
  'CreateTopics',
  'DeleteTopics',
  'CreatePartitions',
  'DescribeConfigs',
  'AlterConfigs',
  'IncrementalAlterConfigs',
  'DescribeCluster',
  'DeleteRecords',
  'InitProducerId',
  'SaslHandshake',
  'SaslAuthenticate',
] as const;

const HEADER_SPECS = ['RequestHeader', 'ResponseHeader'];

const cacheDir = join(homedir(), '.cache', 'ferrymq', 'kafka-specs', KAFKA_VERSION);
const specsOut = fileURLToPath(new URL('../ts/kafka/protocol/specs/', import.meta.url));

function sha1(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex');
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function ensureJar(): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const jarPath = join(cacheDir, `kafka-clients-${KAFKA_VERSION}.jar`);
  if (existsSync(jarPath) && sha1(readFileSync(jarPath)) === JAR_SHA1) return jarPath;
  // The pin is the authority; the published .sha1 must agree with it too.
  const published = (await download(`${JAR_URL}.sha1`)).toString('utf8').trim().split(/\s+/)[0];
  if (published !== JAR_SHA1) throw new Error(`Maven Central lists SHA-1 ${published}, pinned ${JAR_SHA1}`);
  const jar = await download(JAR_URL);
  const got = sha1(jar);
  if (got !== JAR_SHA1)
    throw new Error(`kafka-clients-${KAFKA_VERSION}.jar: SHA-1 ${got}, expected ${JAR_SHA1}`);
  writeFileSync(jarPath, jar);
  return jarPath;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function extract(jarPath: string): string {
  const outDir = join(cacheDir, 'json');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  if (hasCommand('unzip')) {
    execFileSync('unzip', ['-q', '-j', '-o', jarPath, `${SPEC_DIR_IN_JAR}/*.json`, '-d', outDir]);
  } else {
    const py = [
      'import sys, zipfile, os',
      'z = zipfile.ZipFile(sys.argv[1])',
      'for n in z.namelist():',
      `    if n.startswith("${SPEC_DIR_IN_JAR}/") and n.endswith(".json"):`,
      '        open(os.path.join(sys.argv[2], os.path.basename(n)), "wb").write(z.read(n))',
    ].join('\n');
    execFileSync('python3', ['-c', py, jarPath, outDir]);
  }
  return outDir;
}

async function main(): Promise<void> {
  const jarPath = await ensureJar();
  const jsonDir = extract(jarPath);
  const available = new Set(readdirSync(jsonDir));
  const wanted = [
    ...SERVED_APIS.flatMap((api) => [`${api}Request.json`, `${api}Response.json`]),
    ...HEADER_SPECS.map((h) => `${h}.json`),
  ];
  rmSync(specsOut, { recursive: true, force: true });
  mkdirSync(specsOut, { recursive: true });
  for (const file of wanted) {
    if (!available.has(file)) throw new Error(`${file} is not in kafka-clients-${KAFKA_VERSION}.jar`);
    copyFileSync(join(jsonDir, file), join(specsOut, file));
  }
  writeFileSync(
    join(specsOut, 'SOURCE.md'),
    `These files are copied unchanged from kafka-clients-${KAFKA_VERSION}.jar\n` +
      `(${JAR_URL}, SHA-1 ${JAR_SHA1}),\n` +
      `path ${SPEC_DIR_IN_JAR}/. Apache License 2.0. Refresh with\n` +
      '`node scripts/fetch-kafka-specs.ts`, then regenerate the codec with\n' +
      '`node scripts/gen-kafka-protocol.ts`.\n',
  );
  // Kafka's JSON carries // comments: keep biome (biome.json at the root) out of these files.
  writeFileSync(
    join(specsOut, 'biome.json'),
    `${JSON.stringify(
      {
        root: false,
        $schema: '../../../../node_modules/@biomejs/biome/configuration_schema.json',
        files: { includes: ['**', '!**/*.json'] },
      },
      null,
      2,
    )}\n`,
  );
  console.log(`${wanted.length} specs from Kafka ${KAFKA_VERSION} written to ${specsOut}`);
}

if (import.meta.main) await main();
