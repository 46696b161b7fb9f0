import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (works from api/ in the source tree and dist/api/ after a build). */
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = here.endsWith(join('dist', 'api')) ? join(here, '..', '..') : join(here, '..');
