/** Sluice's NATS identities: keys, JWTs, permissions, the server's auth config, tenant connections. */
export * from './nkeys.js';
export * from './claims.js';
export * from './permissions.js';
export * from './server-config.js';
export * from './accounts.js';
export * from './connect.js';
export * from './tenants.js';
export * from './kube-accounts.js';
