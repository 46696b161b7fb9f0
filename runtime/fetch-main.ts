import { existsSync, readFileSync } from 'node:fs';
import { INVOKE_TOKEN_FILE } from '../api/invoke-token.js';
import { createLogger } from '../lib/index.js';
import { installPackages, PackageFetchError, parsePackages } from './package-fetch.js';

/**
 * `node dist/runtime/fetch-main.js`: the init container `sluice-fetch-code` of a function whose
 * code is a zip package or that has layers (runtime/package-fetch.ts). Environment:
 * SLUICE_PACKAGES (JSON [{url, digest, kind}]), SLUICE_CODE_DIR, SLUICE_LAYER_DIR. Retries
 * while the gateway is unreachable (for up to SLUICE_FETCH_BUDGET_SECONDS, default 120); exits 3
 * with the reason (the pod's termination message) when a package is refused or never arrives,
 * and the kubelet runs it again.
 */
const log = createLogger({ component: 'sluice-fetch-code', level: 'info' });
const env = process.env;
const budgetMs = Number(env.SLUICE_FETCH_BUDGET_SECONDS ?? '120') * 1000;
const fail = (message: string): never => {
  process.stderr.write(`sluice-fetch-code: ${message}\n`);
  process.exit(3);
};

const packages = parsePackages(env.SLUICE_PACKAGES ?? '[]');
const token = existsSync(INVOKE_TOKEN_FILE) ? readFileSync(INVOKE_TOKEN_FILE, 'utf8').trim() : undefined;
const plan = {
  packages,
  codeDir: env.SLUICE_CODE_DIR ?? '/mnt/task',
  layerDir: env.SLUICE_LAYER_DIR ?? '/mnt/opt',
  ...(token ? { token } : {}),
};
const deadline = Date.now() + budgetMs;
for (let attempt = 1; ; attempt++) {
  try {
    const r = await installPackages(plan);
    log.info({ ...r, attempt }, 'packages unpacked');
    process.exit(0);
  } catch (err) {
    const retryable = err instanceof PackageFetchError && err.retryable;
    if (!retryable || Date.now() > deadline) fail((err as Error).message);
    log.warn({ attempt, err: (err as Error).message }, 'fetching the packages failed; trying again');
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
  }
}
