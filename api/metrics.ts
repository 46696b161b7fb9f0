/**
 * Metrics that more than one component exports under the same name (the dashboards and alerts sum
 * them across components): one name, help text and label set. A component registers them with
 * `new Counter({ ...INVOCATIONS_TOTAL, registers })`.
 */
export const INVOCATIONS_TOTAL = {
  name: 'sluice_invocations_total',
  help: 'Invocations by type (sync|async|esm) and outcome (success|function_error|timeout|throttled|error)',
  labelNames: ['namespace', 'function', 'version', 'type', 'outcome'],
} as const;

export const DESTINATION_DELIVERY_FAILURES_TOTAL = {
  name: 'sluice_destination_delivery_failures_total',
  help: 'Invocation records a destination did not accept: async events (then kept in the dead-letter stream) and event-source records for onFailure (retried)',
  labelNames: ['namespace', 'function', 'version'],
} as const;

/**
 * A platform component's own credentials were refused by another (401: its ServiceAccount token
 * rejected; 403: not allowed, RBAC or the function's invokePolicy). A platform misconfiguration:
 * the work is kept and retried, never counted against the records or events.
 */
export const PLATFORM_AUTH_FAILURES_TOTAL = {
  name: 'sluice_platform_auth_failures_total',
  help: 'Calls a Sluice component made with its own credentials that were refused with 401/403 (the work is kept and retried), by target namespace/function and status (the component is the registry label)',
  labelNames: ['namespace', 'function', 'status'],
} as const;
