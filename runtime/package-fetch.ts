import { PACKAGE_UNZIPPED_LIMIT, PACKAGE_ZIPPED_LIMIT } from '../api/limits.js';
import { INVOKE_TOKEN_HEADER } from '../api/invoke-token.js';
import { extractPackage, packageDigest } from '../lib/package/index.js';

/**
 * How a function pod gets its code (issue 16): before the handler's container starts, an init
 * container of the platform's runtime image downloads each package the pod needs from the gateway
 * — the function's own zip and its layers, nothing else: the gateway serves a digest only to the
 * pods of a function that references it, proven by the function's invoke token — checks each
 * zip's SHA-256 against the digest the controller wrote into the pod, and unpacks it read-only:
 * the function's package at the code directory (/var/task in the handler's container), the
 * layers in order into the layer directory (/opt), a later layer's files replacing an earlier
 * one's. Function pods never hold NATS credentials.
 */
export interface PackageToFetch {
  /** `sha256:<hex>` the zip must hash to. */
  digest: string;
  /** The gateway's URL for it (`/internal/v1/packages/NAMESPACE/FUNCTION/DIGEST`). */
  url: string;
  /** `code` (the function's package) or `layer`. */
  kind: 'code' | 'layer';
}

export interface FetchPlan {
  packages: PackageToFetch[];
  codeDir: string;
  layerDir: string;
  token?: string;
}

export class PackageFetchError extends Error {
  constructor(
    message: string,
    /** Worth another try (the gateway unreachable or answering 5xx/429). */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'PackageFetchError';
  }
}

export type Fetch = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => Promise<Response>;

/** Downloads one package (at most the zipped limit) and checks its digest. */
export async function downloadPackage(
  p: PackageToFetch,
  token: string | undefined,
  fetchImpl: Fetch = fetch,
  timeoutMs = 60_000,
): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetchImpl(p.url, {
      headers: token ? { [INVOKE_TOKEN_HEADER]: token } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new PackageFetchError(`fetching ${p.digest}: ${(err as Error).message}`, true);
  }
  if (!res.ok) {
    const body = (await res.text().catch(() => '')).slice(0, 300);
    const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
    throw new PackageFetchError(
      `fetching ${p.digest}: the gateway answered ${res.status} ${body}`.trim(),
      retryable,
    );
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > PACKAGE_ZIPPED_LIMIT) {
    throw new PackageFetchError(
      `${p.digest}: ${declared} bytes is over the ${PACKAGE_ZIPPED_LIMIT}-byte package limit`,
      false,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > PACKAGE_ZIPPED_LIMIT) {
      throw new PackageFetchError(`${p.digest}: over the ${PACKAGE_ZIPPED_LIMIT}-byte package limit`, false);
    }
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  const zip = Buffer.concat(chunks);
  const got = packageDigest(zip);
  if (got !== p.digest) {
    // A truncated or altered download: another try may succeed.
    throw new PackageFetchError(`${p.digest}: the download hashes to ${got}`, true);
  }
  return zip;
}

export interface InstallResult {
  packages: number;
  zippedBytes: number;
  unzippedBytes: number;
  ms: number;
}

/**
 * Downloads and unpacks every package of the plan: layers first, in order, into the layer
 * directory, then the function's package into the code directory; all of them together at most
 * 250 MB unzipped. Throws PackageFetchError (retryable or not) or the package's own PackageError.
 */
export async function installPackages(plan: FetchPlan, fetchImpl: Fetch = fetch): Promise<InstallResult> {
  const started = Date.now();
  let unzipped = 0;
  let zipped = 0;
  const ordered = [
    ...plan.packages.filter((p) => p.kind === 'layer'),
    ...plan.packages.filter((p) => p.kind === 'code'),
  ];
  for (const p of ordered) {
    const zip = await downloadPackage(p, plan.token, fetchImpl);
    zipped += zip.length;
    const summary = await extractPackage(zip, p.kind === 'code' ? plan.codeDir : plan.layerDir, {
      maxUnzippedBytes: PACKAGE_UNZIPPED_LIMIT - unzipped,
      merge: true,
    });
    unzipped += summary.unzippedBytes;
  }
  return { packages: ordered.length, zippedBytes: zipped, unzippedBytes: unzipped, ms: Date.now() - started };
}

/** The plan as the controller writes it into the init container's environment (SLUICE_PACKAGES, JSON). */
export function parsePackages(json: string): PackageToFetch[] {
  const v = JSON.parse(json) as unknown;
  if (!Array.isArray(v)) throw new Error('SLUICE_PACKAGES must be a JSON array');
  return v.map((p: Partial<PackageToFetch>, i) => {
    if (
      typeof p?.url !== 'string' ||
      typeof p.digest !== 'string' ||
      (p.kind !== 'code' && p.kind !== 'layer')
    ) {
      throw new Error(`SLUICE_PACKAGES[${i}] must be {url, digest, kind: code|layer}`);
    }
    if (!/^sha256:[0-9a-f]{64}$/.test(p.digest))
      throw new Error(`SLUICE_PACKAGES[${i}].digest is not sha256:<hex>`);
    return { url: p.url, digest: p.digest, kind: p.kind };
  });
}
