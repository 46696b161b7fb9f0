/**
 * The example manifests in deploy/examples/: valid ones (every kind) and deliberately invalid
 * ones. Each invalid file starts with one or more `# expect: TEXT` lines: substrings the API
 * server's rejection message must contain. The e2e suite applies them all to a real API server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './paths.js';

export interface ValidExample {
  file: string;
  docs: Record<string, unknown>[];
}

export interface InvalidExample {
  file: string;
  doc: Record<string, unknown>;
  expect: string[];
}

function parseDocs(path: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${path}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Record<string, unknown> | null;
    })
    .filter((d): d is Record<string, unknown> => d !== null);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

export function loadExamples(root: string = ROOT): { valid: ValidExample[]; invalid: InvalidExample[] } {
  const valid = yamlFiles(join(root, 'deploy/examples/valid')).map((file) => ({
    file,
    docs: parseDocs(file),
  }));
  const invalid = yamlFiles(join(root, 'deploy/examples/invalid')).map((file) => {
    const text = readFileSync(file, 'utf8');
    const expect = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => (m[1] ?? '').trim());
    const docs = parseDocs(file);
    if (docs.length !== 1 || !docs[0])
      throw new Error(`${file}: an invalid example holds exactly one object`);
    if (expect.length === 0)
      throw new Error(`${file}: an invalid example needs at least one "# expect:" line`);
    return { file, doc: docs[0], expect };
  });
  return { valid, invalid };
}
