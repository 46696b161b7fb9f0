import { createHash } from 'node:crypto';

/**
 * Names and labels shared by the controller (which creates the objects) and the gateway and
 * poller (which find them). One place, so the components cannot disagree.
 */
export const LABELS = {
  function: 'sluice.dev/function',
  version: 'sluice.dev/version',
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
} as const;

export const MANAGED_BY = 'sluice-controller';
/** Set on a FunctionVersion by the gateway when it is invoked without running pods: run it. */
export const ACTIVATE_ANNOTATION = 'sluice.dev/activate';
export const LATEST = '$LATEST';
/**
 * On a ServiceAccount: functions may run as it (`spec.executionRole.serviceAccountName`) only when
 * this annotation is "true" — the opt-in that stands for Lambda's iam:PassRole: being able to
 * write a Function does not lend its author every identity of the namespace.
 */
export const EXECUTION_ROLE_ANNOTATION = 'sluice.dev/execution-role';
/** Label values cannot hold "$": $LATEST is "latest" in labels and names. */
export const LATEST_LABEL = 'latest';

/** Port of the in-pod runtime's invoke endpoint, and its path (the Runtime Interface Emulator's). */
export const RUNTIME_INVOKE_PORT = 8080;
/** Port of the in-pod runtime's /metrics. */
export const RUNTIME_METRICS_PORT = 9091;
export const RUNTIME_INVOKE_PATH = '/2015-03-31/functions/function/invocations';

export function versionLabel(version: string): string {
  return version === LATEST ? LATEST_LABEL : version;
}

function hash(s: string, n = 8): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** A DNS label (≤ 63 chars): kept readable, shortened with a hash suffix when too long. */
export function dnsLabel(base: string): string {
  if (base.length <= 63) return base;
  return `${base.slice(0, 54).replace(/-+$/, '')}-${hash(base)}`;
}

/** Name of the Deployment and headless Service running one version of a function. */
export function workloadName(fn: string, version: string): string {
  return dnsLabel(`${fn}-${version === LATEST ? LATEST_LABEL : `v${version}`}`);
}

/** Name of the FunctionVersion object for version N of a function. */
export function functionVersionName(fn: string, version: string): string {
  return dnsLabel(`${fn}-v${version}`);
}

/** Labels on a version's Deployment, pods and Service (EndpointSlices inherit the Service's). */
export function workloadLabels(fn: string, version: string): Record<string, string> {
  return {
    [LABELS.function]: fn,
    [LABELS.version]: versionLabel(version),
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.component]: 'function',
    [LABELS.partOf]: 'sluice',
  };
}

/** The selector of a version's pods (a subset of workloadLabels that never changes). */
export function workloadSelector(fn: string, version: string): Record<string, string> {
  return { [LABELS.function]: fn, [LABELS.version]: versionLabel(version) };
}

/** Content-hashed name of the immutable ConfigMap holding inline code. */
export function codeConfigMapName(fn: string, sha256: string): string {
  return dnsLabel(`${fn}-code-${sha256.slice(0, 10)}`);
}

/** The ARN a function (and qualifier) is known by: the account field is the namespace. */
export function functionArn(region: string, namespace: string, fn: string, qualifier?: string): string {
  return `arn:aws:lambda:${region}:${namespace}:function:${fn}${qualifier ? `:${qualifier}` : ''}`;
}
