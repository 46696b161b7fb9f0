import type { Readable } from 'node:stream';
import type { Request, RequestHandler, Response } from 'express';
import { INVOKE_TOKEN_HEADER, tokensEqual } from '../../api/invoke-token.js';
import { PACKAGE_DIGEST_PATTERN } from '../../api/schema.js';
import type { Logger } from '../../lib/index.js';
import type { PackageCatalog } from '../catalog/catalog.js';
import { LambdaError, ResourceNotFoundError } from '../errors.js';
import { headerOf } from '../http/context.js';
import { verifyLocation, type Signer } from '../packages/location.js';
import { functionPackages } from '../packages/references.js';
import type { PackageStore } from '../packages/store.js';

/** The pod delivery endpoint: `GET /internal/v1/packages/{namespace}/{function}/{digest}`. */
export const PACKAGE_DELIVERY_PATH = '/internal/v1/packages/:namespace/:function/:digest';
/** Header on a package answer: the digest the pod must verify the bytes against. */
export const PACKAGE_DIGEST_HEADER = 'x-sluice-package-digest';

const DIGEST = new RegExp(PACKAGE_DIGEST_PATTERN);

export interface PackageDeliveryDeps {
  catalog: PackageCatalog;
  store: PackageStore;
  /** A function's invoke token (api/invoke-token.ts under the platform's key); absent: nothing is served. */
  tokens?: (namespace: string, fn: string) => string;
  log: Logger;
}

/** Streams the zip with its digest header; a store error mid-stream cuts the connection. */
async function sendPackage(
  res: Response,
  store: PackageStore,
  namespace: string,
  digest: string,
  log: Logger,
): Promise<boolean> {
  const pkg = await store.get(namespace, digest);
  if (!pkg) return false;
  res.status(200).set({
    'content-type': 'application/zip',
    'content-length': String(pkg.size),
    [PACKAGE_DIGEST_HEADER]: digest,
    'cache-control': 'no-store',
  });
  await new Promise<void>((resolve) => {
    const data: Readable = pkg.data;
    data.on('error', (err) => {
      log.warn({ err, namespace, digest }, 'package stream failed');
      res.destroy(err);
      resolve();
    });
    res.on('close', () => {
      data.destroy();
      resolve();
    });
    data.pipe(res);
  });
  return true;
}

/**
 * A function pod (sluice-runtime's init step) fetches its own code and layers here with its
 * invoke token. 200 only when the token is the function's AND the digest is referenced by the
 * Function, one of its FunctionVersions, or a LayerVersion their spec.layers name; anything else
 * is the same 404, which never tells whether the digest exists elsewhere.
 */
export function makePackageDeliveryHandler(deps: PackageDeliveryDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const namespace = String(req.params.namespace);
    const fn = String(req.params.function);
    const digest = String(req.params.digest);
    const notFound = new ResourceNotFoundError(`Package not found: ${namespace}/${fn}/${digest}`);
    const token = headerOf(req, INVOKE_TOKEN_HEADER) ?? '';
    if (!deps.tokens || !DIGEST.test(digest) || !tokensEqual(token, deps.tokens(namespace, fn)))
      throw notFound;
    if (!functionPackages(deps.catalog, namespace, fn).has(digest)) throw notFound;
    if (!(await sendPackage(res, deps.store, namespace, digest, deps.log))) throw notFound;
  };
}

/** Where GetFunction's Code.Location points: `GET /2015-03-31/packages/{namespace}/{digest}?expires&signature`. */
export const PACKAGE_DOWNLOAD_PATH = '/2015-03-31/packages/:namespace/:digest';

export interface PackageDownloadDeps {
  store: PackageStore;
  /** Signs and checks links (packages/location.ts); absent: no link is valid. */
  sign?: Signer;
  now?: () => number;
  log: Logger;
}

/** Downloads a package through a link GetFunction handed out (valid for 10 minutes, no credentials). */
export function makePackageDownloadHandler(deps: PackageDownloadDeps): RequestHandler {
  const now = deps.now ?? Date.now;
  return async (req: Request, res: Response) => {
    const namespace = String(req.params.namespace);
    const digest = String(req.params.digest);
    const q = req.query as Record<string, string | undefined>;
    const valid =
      deps.sign !== undefined &&
      DIGEST.test(digest) &&
      verifyLocation(deps.sign, namespace, digest, q.expires, q.signature, now());
    // As S3 answers a presigned URL: 403 before anything is looked up (a bad link tells nothing
    // of what exists), 404 only for a valid link whose package is gone.
    if (!valid) {
      throw new LambdaError(
        403,
        'AccessDeniedException',
        'The link is invalid or has expired (links from GetFunction last 10 minutes)',
      );
    }
    if (!(await sendPackage(res, deps.store, namespace, digest, deps.log))) {
      throw new ResourceNotFoundError(`Package not found: ${namespace}/${digest}`);
    }
  };
}
