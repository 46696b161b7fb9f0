/**
 * Sluice's Kubernetes plumbing, shared by the gateway, the controller and the poller: watches
 * that double as listers, label selectors, Lease stores and leader election, the one writer of
 * `deployments/scale`, status conditions.
 */
export * from './watch.js';
export * from './selector.js';
export * from './leases.js';
export * from './elector.js';
export * from './scale.js';
export * from './conditions.js';
