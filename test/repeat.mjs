// Flake detector: runs one vitest suite N times and lists every test that failed at least once.
//   node test/repeat.mjs SUITE N [vitest args...]     (make test-repeat SUITE=integration N=5)
// Each run's JSON report goes to .test-results/repeat/SUITE-K.json; the summary to
// .test-results/repeat/SUITE.txt. Exits 1 when any test failed in any run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [suite, nArg, ...rest] = process.argv.slice(2);
const n = Number(nArg ?? 5);
const config = `test/vitest.${suite}.config.ts`;
if (!suite || !existsSync(config) || !(n >= 1)) {
  console.error('usage: node test/repeat.mjs unit|integration|e2e N [vitest args...]');
  process.exit(2);
}
const dir = '.test-results/repeat';
mkdirSync(dir, { recursive: true });

/** test full name → { runs, failures, first error } */
const tests = new Map();
const runs = [];
for (let k = 1; k <= n; k++) {
  const out = join(dir, `${suite}-${k}.json`);
  const t0 = Date.now();
  console.log(`\n=== ${suite} run ${k}/${n} ===`);
  const r = spawnSync(
    'npx',
    [
      'vitest',
      'run',
      '--config',
      config,
      '--reporter=dot',
      '--reporter=json',
      `--outputFile.json=${out}`,
      ...rest,
    ],
    { stdio: 'inherit' },
  );
  const secs = Math.round((Date.now() - t0) / 1000);
  if (!existsSync(out)) {
    runs.push({ k, secs, passed: 0, failed: 0, note: `no report (exit ${r.status})` });
    continue;
  }
  const report = JSON.parse(readFileSync(out, 'utf8'));
  let passed = 0;
  let failed = 0;
  for (const file of report.testResults ?? []) {
    const fileName = file.name.replace(`${process.cwd()}/`, '');
    // A file that failed to load (no assertion results) counts as one failing entry.
    if ((file.assertionResults ?? []).length === 0 && file.status === 'failed') {
      const key = `${fileName} (file)`;
      const e = tests.get(key) ?? { runs: 0, failures: 0, error: '' };
      e.runs++;
      e.failures++;
      e.error ||= String(file.message ?? '').split('\n')[0];
      tests.set(key, e);
      failed++;
    }
    for (const a of file.assertionResults ?? []) {
      const key = `${fileName} > ${a.fullName}`;
      const e = tests.get(key) ?? { runs: 0, failures: 0, error: '' };
      e.runs++;
      if (a.status === 'failed') {
        e.failures++;
        failed++;
        e.error ||= String(a.failureMessages?.[0] ?? '').split('\n')[0];
      } else if (a.status === 'passed') passed++;
      tests.set(key, e);
    }
  }
  runs.push({ k, secs, passed, failed });
}

const lines = [`${suite} × ${n}`];
for (const r of runs)
  lines.push(
    `  run ${r.k}: ${r.passed} passed, ${r.failed} failed in ${r.secs} s${r.note ? ` (${r.note})` : ''}`,
  );
const flaky = [...tests.entries()].filter(([, e]) => e.failures > 0);
lines.push(`${tests.size} tests; ${flaky.length} failed at least once`);
for (const [name, e] of flaky) lines.push(`  ${e.failures}/${e.runs}  ${name}\n        ${e.error}`);
const noReport = runs.filter((r) => r.note).length;
const text = lines.join('\n');
writeFileSync(join(dir, `${suite}.txt`), `${text}\n`);
console.log(`\n${text}`);
process.exit(flaky.length > 0 || noReport > 0 ? 1 : 0);
