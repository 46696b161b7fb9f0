// Sums the reports of a `make test` run (vitest JSON, shell suites' closing lines) into one line: "N passed, N failed".
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.test-results';
let passed = 0;
let failed = 0;
let skipped = 0;
for (const f of readdirSync(dir)
  .filter((n) => n.endsWith('.json'))
  .sort()) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const p = r.numPassedTests ?? 0;
  const x = r.numFailedTests ?? 0;
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`${f.replace(/\.json$/, '').padEnd(12)} ${p} passed, ${x} failed, ${s} skipped`);
  passed += p;
  failed += x;
  skipped += s;
}
// Shell suites (the cluster lifecycle) end with their own "N passed, M failed" line.
for (const f of readdirSync(dir)
  .filter((n) => n.endsWith('.txt'))
  .sort()) {
  const m = /^(\d+) passed, (\d+) failed$/m.exec(readFileSync(join(dir, f), 'utf8'));
  if (!m) continue;
  console.log(`${f.replace(/\.txt$/, '').padEnd(12)} ${m[1]} passed, ${m[2]} failed, 0 skipped`);
  passed += Number(m[1]);
  failed += Number(m[2]);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
