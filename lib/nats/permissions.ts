/**
 * Who may publish and subscribe to what on Sluice's NATS (docs/nats.md). Each list was collected
 * from the subjects nats.js 3.4 sends for the calls the component makes; tests run every
 * component under its own list, so a missing subject fails a test.
 *
 * - SLUICE (platform) account: the gateway (async pipeline), the poller (its KV state, async
 *   backlogs for the autoscaler), an administrator (everything; for operators and tests).
 * - SYS account: the controller (account claims, purge of a deleted namespace's JetStream data).
 * - Each tenant account (one per namespace) has two scoped signing keys whose templates below
 *   are all a user of that role may do: `tenant` (the namespace's own `sluice-nats` creds) and
 *   `platform` (the poller and gateway reaching into the account).
 */

export interface Permissions {
  pub: { allow?: string[]; deny?: string[] };
  sub: { allow?: string[]; deny?: string[] };
}

/** Inbox prefix of the platform's connections into tenant accounts (tenants may not subscribe to it). */
export const PLATFORM_INBOX = '_INBOX_sluice';

/** JetStream names of the platform account. */
export interface PlatformNames {
  /** Subject prefix of the async pipeline (`sluice`). */
  prefix: string;
  asyncStream: string;
  dlqStream: string;
  /** KV bucket of async events whose function ran but whose outcome is not yet settled. */
  settleBucket: string;
  /** KV bucket of the gateway replicas' shared reserved-concurrency counters. */
  concurrencyBucket: string;
  checkpointBucket: string;
  tickBucket: string;
  /** Object store of code packages (zip files of functions and layers; gateway/packages/store.ts). */
  codeBucket: string;
}

export const PLATFORM_NAMES: PlatformNames = {
  prefix: 'sluice',
  asyncStream: 'SLUICE_ASYNC',
  dlqStream: 'SLUICE_DLQ',
  settleBucket: 'sluice-async-settle',
  concurrencyBucket: 'sluice-concurrency',
  checkpointBucket: 'sluice-esm-checkpoints',
  tickBucket: 'sluice-schedule-ticks',
  codeBucket: 'sluice-packages',
};

/** A KV bucket: its stream, direct gets, keys, and the ordered push consumer of keys()/watch(). */
export function kvSubjects(bucket: string): string[] {
  const s = `KV_${bucket}`;
  return [
    `$JS.API.STREAM.CREATE.${s}`,
    `$JS.API.STREAM.UPDATE.${s}`,
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}.>`,
    `$KV.${bucket}.>`,
    `$JS.API.CONSUMER.CREATE.${s}.>`,
    `$JS.API.CONSUMER.INFO.${s}.>`,
    `$JS.API.CONSUMER.DELETE.${s}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${s}.>`,
    // flow-control replies of the push consumer (kv.js sets flow_control)
    `$JS.FC.${s}.>`,
  ];
}

/**
 * A KV bucket used only by get and compare-and-set writes (no watch, no keys): fewer subjects,
 * because every subject lengthens the user JWT sent in the CONNECT line (max_control_line, 4 KB).
 */
export function kvCasSubjects(bucket: string): string[] {
  const s = `KV_${bucket}`;
  return [
    `$JS.API.STREAM.CREATE.${s}`,
    `$JS.API.STREAM.UPDATE.${s}`,
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.DIRECT.GET.${s}.>`,
    `$KV.${bucket}.>`,
  ];
}

/**
 * An object store: chunks and metadata, and the ordered push consumers `get()` and `list()` read
 * with. The consumer calls (create, info, delete, next, pause: one token then the stream) are one
 * wildcard, to keep the user JWT short (max_control_line, 4 KB).
 */
export function objectStoreSubjects(bucket: string): string[] {
  const s = `OBJ_${bucket}`;
  return [
    `$JS.API.STREAM.CREATE.${s}`,
    `$JS.API.STREAM.UPDATE.${s}`,
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.STREAM.PURGE.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}.>`,
    `$O.${bucket}.>`,
    `$JS.API.CONSUMER.*.${s}.>`,
    // without the flow-control replies a large get() hangs forever
    `$JS.FC.${s}.>`,
  ];
}

/** The gateway: the async pipeline's two streams, per-function consumers, schedules, the code store. */
export function gatewayPermissions(n: PlatformNames = PLATFORM_NAMES): Permissions {
  const a = n.asyncStream;
  const d = n.dlqStream;
  return {
    pub: {
      allow: [
        '$JS.API.INFO',
        // events, scheduled retries (message schedules), dead letters
        `${n.prefix}.async.>`,
        `${n.prefix}.retry.>`,
        `${n.prefix}.dlq.>`,
        `$JS.API.STREAM.CREATE.${a}`,
        `$JS.API.STREAM.UPDATE.${a}`,
        `$JS.API.STREAM.INFO.${a}`,
        `$JS.API.STREAM.CREATE.${d}`,
        `$JS.API.STREAM.UPDATE.${d}`,
        `$JS.API.STREAM.INFO.${d}`,
        `$JS.API.STREAM.PURGE.${d}`,
        `$JS.API.STREAM.MSG.GET.${d}`,
        `$JS.API.STREAM.MSG.DELETE.${d}`,
        `$JS.API.DIRECT.GET.${d}`,
        `$JS.API.DIRECT.GET.${d}.>`,
        // per-function consumers: create/update (with the filter subject's tokens), info, delete, list
        `$JS.API.CONSUMER.CREATE.${a}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${a}.*`,
        `$JS.API.CONSUMER.INFO.${a}.*`,
        `$JS.API.CONSUMER.DELETE.${a}.*`,
        `$JS.API.CONSUMER.LIST.${a}`,
        `$JS.API.CONSUMER.NAMES.${a}`,
        `$JS.API.CONSUMER.MSG.NEXT.${a}.*`,
        `$JS.ACK.${a}.>`,
        // "invoked, outcome X" of events whose settle failed (gateway/async/settle.ts)
        ...kvSubjects(n.settleBucket),
        // reserved concurrency as one number across replicas (gateway/limits/kv-counter.ts)
        ...kvCasSubjects(n.concurrencyBucket),
        ...objectStoreSubjects(n.codeBucket),
      ],
    },
    sub: { allow: ['_INBOX.>'] },
  };
}

/** The poller: its KV buckets, and reading the async consumers' backlogs for the autoscaler. */
export function pollerPermissions(n: PlatformNames = PLATFORM_NAMES): Permissions {
  return {
    pub: {
      allow: [
        '$JS.API.INFO',
        ...kvSubjects(n.checkpointBucket),
        ...kvSubjects(n.tickBucket),
        `$JS.API.STREAM.INFO.${n.asyncStream}`,
        `$JS.API.CONSUMER.INFO.${n.asyncStream}.*`,
        `$JS.API.CONSUMER.LIST.${n.asyncStream}`,
      ],
    },
    sub: { allow: ['_INBOX.>'] },
  };
}

/** An administrator of the platform account (operators' tools, tests): no limits inside SLUICE. */
export const ADMIN_PERMISSIONS: Permissions = { pub: { allow: ['>'] }, sub: { allow: ['>'] } };

/** The controller, in the system account: account claims, and purging a deleted namespace's data. */
export const CONTROLLER_SYS_PERMISSIONS: Permissions = {
  pub: {
    allow: [
      '$SYS.REQ.CLAIMS.UPDATE',
      '$SYS.REQ.CLAIMS.DELETE',
      '$SYS.REQ.CLAIMS.LIST',
      '$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP',
      '$JS.API.ACCOUNT.PURGE.*',
    ],
  },
  sub: { allow: ['_INBOX.>'] },
};

/** Role `tenant`: everything in the namespace's own account but $SYS and the platform's inboxes. */
export const TENANT_SCOPE: Permissions = {
  pub: { allow: ['>'], deny: ['$SYS.>', `${PLATFORM_INBOX}.>`] },
  sub: { allow: ['>'], deny: [`${PLATFORM_INBOX}.>`] },
};

/**
 * Role `platform`: consume any stream of the account (consumers, pulls, acks), read stream info,
 * publish destination records; never create, change, purge or delete a tenant's streams or
 * messages. A deny-list on purpose: destinations may be any subject of the tenant's, and in NATS
 * a deny beats an allow.
 */
export const PLATFORM_SCOPE: Permissions = {
  pub: {
    allow: ['>'],
    deny: [
      '$JS.API.STREAM.CREATE.>',
      '$JS.API.STREAM.UPDATE.>',
      '$JS.API.STREAM.DELETE.>',
      '$JS.API.STREAM.PURGE.>',
      '$JS.API.STREAM.MSG.DELETE.>',
      '$JS.API.STREAM.SNAPSHOT.>',
      '$JS.API.STREAM.RESTORE.>',
      '$JS.API.STREAM.PEER.>',
      '$JS.API.STREAM.LEADER.>',
      '$JS.API.ACCOUNT.>',
      '$JS.API.META.>',
      '$JS.API.SERVER.>',
      '$SYS.>',
      '$KV.>',
      '$O.>',
    ],
  },
  sub: { allow: [`${PLATFORM_INBOX}.>`] },
};
