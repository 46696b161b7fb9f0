/** Zip packages (function code and layers): validation and unpacking; README.md says what is refused. */
export { PackageError } from './rules.js';
export type { PackageErrorCode } from './rules.js';
export { PackageDestinationError } from './disk.js';
export { extractPackage, inspectPackage, packageDigest } from './zip.js';
export type { ExtractOptions, PackageLimits, PackageSummary } from './zip.js';
