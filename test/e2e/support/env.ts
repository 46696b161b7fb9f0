import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../../api/paths.js';

/**
 * The local cluster's environment, read from .cluster/env (written by `make cluster-up`). The
 * e2e suite fails — never skips — when it is missing: the cluster must be up.
 */
export function clusterEnv(): Record<string, string> {
  const file = join(ROOT, '.cluster/env');
  if (!existsSync(file)) {
    throw new Error(
      `${file} does not exist: start the cluster with \`make cluster-up\` (make test-e2e does it)`,
    );
  }
  const env: Record<string, string> = {};
  const read = (path: string): void => {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const m = /^export ([A-Z_0-9]+)=(.*)$/.exec(line.trim());
      if (m?.[1])
        env[m[1]] = (m[2] ?? '')
          .replace(/^["']|["']$/g, '')
          .replace(/\$([A-Z_]+)/g, (_, v: string) => env[v] ?? process.env[v] ?? '');
    }
  };
  read(file);
  const images = join(ROOT, '.cluster/images.env');
  if (existsSync(images)) read(images);
  return env;
}

/** The image reference for a Sluice image (content-hash tag when images.env has one). */
export function imageRef(env: Record<string, string>, name: string): string {
  const key = Object.keys(env).find((k) => k.endsWith(`IMAGE_${name.toUpperCase().replace(/-/g, '_')}`));
  return key ? (env[key] as string) : `localhost/sluice/${name}:dev`;
}
