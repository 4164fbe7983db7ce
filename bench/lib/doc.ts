/**
 * docs/benchmarks.md is shared by every bench script: each owns one section
 * between `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` and
 * rewrites only that; text outside the markers (hand-written notes) is kept.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const INTRO =
  '# Benchmarks\n\nFigures from the scripts in `bench/`. Each generated section sits between markers and is rewritten by its script; text outside the markers is kept.\n\n';

/**
 * Replace (or add) section `name` with `body`. A new section goes at the end,
 * or with `first` before every other generated section.
 */
export function writeDocSection(repoRoot: string, name: string, body: string, first = false): void {
  const path = join(repoRoot, 'docs', 'benchmarks.md');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const section = `${start}\n${body.trimEnd()}\n${end}`;
  // Re-read right before writing: the other sections belong to other scripts.
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : INTRO;
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  const firstSection = doc.indexOf('<!-- bench:');
  if (a >= 0 && b > a) doc = doc.slice(0, a) + section + doc.slice(b + end.length);
  else if (first && firstSection >= 0)
    doc = `${doc.slice(0, firstSection)}${section}\n\n${doc.slice(firstSection)}`;
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, doc);
  console.log(`\nwrote ${path}`);
}
