import { Readable } from 'node:stream';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Objm, StorageType, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import { PACKAGE_DIGEST_PATTERN } from '../../api/schema.js';
import { packageDigest } from '../../lib/package/index.js';
import { SluiceError } from '../../lib/index.js';

/**
 * Zip packages (function code and layers), content-addressed, in a JetStream object store of the
 * platform account: object `${namespace}/${digest}`. A digest is known per namespace: the same
 * zip uploaded by two namespaces is stored twice, so one namespace's upload never opens another
 * namespace's package, and a namespace's usage (its quota) is what it uploaded itself.
 */

/** One stored package. */
export interface StoredPackage {
  namespace: string;
  /** `sha256:<64 lowercase hex>` of the zip. */
  digest: string;
  /** Zip size in bytes. */
  size: number;
  /** When it was stored. */
  storedAt: Date;
}

export interface PackageStore {
  /**
   * Stores the zip for the namespace under its digest (nothing is written when it is already
   * there). Throws CodeStorageExceededError when the namespace's packages would exceed its quota.
   */
  put(namespace: string, zip: Buffer): Promise<{ digest: string; size: number; created: boolean }>;
  /** The zip's bytes as a stream; undefined when the namespace has no such package. */
  get(namespace: string, digest: string): Promise<{ size: number; data: Readable } | undefined>;
  has(namespace: string, digest: string): Promise<boolean>;
  /** Removes the package; false when it was not there. */
  delete(namespace: string, digest: string): Promise<boolean>;
  /** The packages of one namespace, or of all namespaces. */
  list(namespace?: string): Promise<StoredPackage[]>;
}

/** 400 CodeStorageExceededException: the namespace's packages would exceed its code storage quota. */
export class CodeStorageExceededError extends SluiceError {
  override readonly name = 'CodeStorageExceededError';
  constructor(
    readonly namespace: string,
    readonly quotaBytes: number,
  ) {
    super(
      `Code storage limit exceeded: the packages of namespace ${namespace} would exceed its quota of ${quotaBytes} bytes; delete unused functions, versions or layer versions`,
    );
  }
}

/** The store is not reachable yet (NATS not connected): the caller may retry. */
export class PackageStoreUnavailableError extends SluiceError {
  override readonly name = 'PackageStoreUnavailableError';
  constructor() {
    super('The package store is not available yet (NATS is not connected); retry');
  }
}

/**
 * The gateway's store before NATS is connected: every call throws PackageStoreUnavailableError
 * until `attach` gives it the real one (main.ts attaches it once the platform connection is up).
 */
export class AttachablePackageStore implements PackageStore {
  private store: PackageStore | undefined;

  attach(store: PackageStore): void {
    this.store = store;
  }

  get attached(): boolean {
    return this.store !== undefined;
  }

  private get s(): PackageStore {
    if (!this.store) throw new PackageStoreUnavailableError();
    return this.store;
  }

  put(namespace: string, zip: Buffer): Promise<{ digest: string; size: number; created: boolean }> {
    return this.s.put(namespace, zip);
  }

  get(namespace: string, digest: string): Promise<{ size: number; data: Readable } | undefined> {
    return this.s.get(namespace, digest);
  }

  has(namespace: string, digest: string): Promise<boolean> {
    return this.s.has(namespace, digest);
  }

  delete(namespace: string, digest: string): Promise<boolean> {
    return this.s.delete(namespace, digest);
  }

  list(namespace?: string): Promise<StoredPackage[]> {
    return this.s.list(namespace);
  }
}

export interface PackageStoreSettings {
  bucket: string;
  /** JetStream replicas (1, or 3 with a clustered NATS). */
  replicas: number;
  /** Most zip bytes one namespace may store (Lambda: 75 GB per account). */
  quotaBytes: number;
}

/** The default per-namespace code storage quota: 5 GiB. */
export const DEFAULT_CODE_STORAGE_QUOTA = 5 * 1024 * 1024 * 1024;

export const DEFAULT_PACKAGE_STORE: PackageStoreSettings = {
  bucket: 'sluice-packages',
  replicas: 1,
  quotaBytes: DEFAULT_CODE_STORAGE_QUOTA,
};

const DIGEST = new RegExp(PACKAGE_DIGEST_PATTERN);

/** The object name of a namespace's package (a namespace holds no `/`, a digest neither). */
export function objectName(namespace: string, digest: string): string {
  return `${namespace}/${digest}`;
}

/** The namespace and digest of an object name; undefined for anything else in the bucket. */
export function parseObjectName(name: string): { namespace: string; digest: string } | undefined {
  const slash = name.indexOf('/');
  if (slash <= 0) return undefined;
  const digest = name.slice(slash + 1);
  return DIGEST.test(digest) ? { namespace: name.slice(0, slash), digest } : undefined;
}

function validDigest(digest: string): boolean {
  return DIGEST.test(digest);
}

/** The store on NATS: one object store bucket, created (or its settings updated) on open. */
export class NatsPackageStore implements PackageStore {
  /** Writes of one namespace, one at a time: the quota check and the write stay together. */
  private readonly queues = new Map<string, Promise<unknown>>();

  private constructor(
    private readonly os: ObjectStore,
    private readonly settings: PackageStoreSettings,
  ) {}

  static async open(
    js: JetStreamClient,
    settings: PackageStoreSettings = DEFAULT_PACKAGE_STORE,
  ): Promise<NatsPackageStore> {
    const os = await new Objm(js).create(settings.bucket, {
      description: 'Sluice code packages: zip files of functions and layers, by namespace and SHA-256',
      storage: StorageType.File,
      replicas: settings.replicas,
    });
    return new NatsPackageStore(os, settings);
  }

  private serial<T>(namespace: string, op: () => Promise<T>): Promise<T> {
    const tail = this.queues.get(namespace) ?? Promise.resolve();
    const next = tail.then(op, op);
    const settled = next.catch(() => undefined);
    this.queues.set(namespace, settled);
    void settled.then(() => {
      if (this.queues.get(namespace) === settled) this.queues.delete(namespace);
    });
    return next;
  }

  async put(namespace: string, zip: Buffer): Promise<{ digest: string; size: number; created: boolean }> {
    const digest = packageDigest(zip);
    return this.serial(namespace, async () => {
      const name = objectName(namespace, digest);
      const existing = await this.os.info(name);
      if (existing && !existing.deleted) {
        // Stored long ago and about to be referenced again: the garbage collector measures its
        // grace period from this use, not from the upload (the object's mtime stays as it was).
        await this.os.update(name, {
          metadata: { ...existing.metadata, [REUSED_AT]: new Date().toISOString() },
        });
        return { digest, size: existing.size, created: false };
      }
      const used = (await this.list(namespace)).reduce((sum, p) => sum + p.size, 0);
      if (used + zip.length > this.settings.quotaBytes) {
        throw new CodeStorageExceededError(namespace, this.settings.quotaBytes);
      }
      await this.os.putBlob({ name, metadata: { namespace, digest } }, zip);
      return { digest, size: zip.length, created: true };
    });
  }

  async get(namespace: string, digest: string): Promise<{ size: number; data: Readable } | undefined> {
    if (!validDigest(digest)) return undefined;
    const r = await this.os.get(objectName(namespace, digest));
    if (!r || r.info.deleted) return undefined;
    const data = Readable.fromWeb(r.data as Parameters<typeof Readable.fromWeb>[0]);
    // The object store checks the digest of what it sent at the end; a mismatch fails the stream.
    void r.error.then((err) => {
      if (err) data.destroy(err);
    });
    return { size: r.info.size, data };
  }

  async has(namespace: string, digest: string): Promise<boolean> {
    if (!validDigest(digest)) return false;
    const info = await this.os.info(objectName(namespace, digest));
    return info !== null && !info.deleted;
  }

  async delete(namespace: string, digest: string): Promise<boolean> {
    if (!validDigest(digest)) return false;
    return this.serial(namespace, async () => {
      const name = objectName(namespace, digest);
      const info = await this.os.info(name);
      if (!info || info.deleted) return false;
      await this.os.delete(name);
      return true;
    });
  }

  async list(namespace?: string): Promise<StoredPackage[]> {
    const out: StoredPackage[] = [];
    for (const info of await this.os.list()) {
      const p = stored(info);
      if (p && (namespace === undefined || p.namespace === namespace)) out.push(p);
    }
    return out;
  }
}

/** Object metadata: when an upload last found the package already stored (NatsPackageStore.put). */
const REUSED_AT = 'reused-at';

function stored(info: ObjectInfo): StoredPackage | undefined {
  if (info.deleted) return undefined;
  const parsed = parseObjectName(info.name);
  if (!parsed) return undefined;
  // The later of the upload and the last re-upload (an unparsable value counts as the upload).
  const reused = Date.parse(info.metadata?.[REUSED_AT] ?? '');
  const uploaded = Date.parse(info.mtime);
  const at = Number.isNaN(reused) ? uploaded : Math.max(uploaded, reused);
  return { ...parsed, size: info.size, storedAt: new Date(at) };
}
