/**
 * The Sluice API (group sluice.dev, version v1alpha1): the single source of truth.
 *
 * `api/generate.ts` renders these schemas into the CRD YAML in `charts/sluice/crds/` and the
 * TypeScript types in `api/generated/types.ts`; a unit test fails when either is stale.
 * Every property has a description (`kubectl explain` shows it); validation is CEL with
 * messages that name the field and what is allowed.
 */
export const GROUP = 'sluice.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

import { AUTHORITY_END, DOTTED_QUAD, HTTP_AUTHORITY, HTTP_PLAIN_HOST } from './destinations.js';

/** The subset of OpenAPI v3 that structural CRD schemas use. */
export interface Schema {
  type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array';
  title?: string;
  description: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: string[];
  default?: unknown;
  format?: string;
  pattern?: string;
  maxLength?: number;
  minLength?: number;
  maxItems?: number;
  maxProperties?: number;
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
  'x-kubernetes-validations'?: { rule: string; message: string; messageExpression?: string }[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

const str = (description: string, maxLength: number, extra: Partial<Schema> = {}): Schema => ({
  type: 'string',
  description,
  maxLength,
  ...extra,
});

/** An integer checked by CEL so the message names the field and the allowed range. */
const intRange = (field: string, description: string, min: number, max: number, def?: number): Schema => ({
  type: 'integer',
  description: `${description} Allowed: ${min}..${max}.${def !== undefined ? ` Default: ${def}.` : ''}`,
  ...(def !== undefined ? { default: def } : {}),
  'x-kubernetes-validations': [
    { rule: `self >= ${min} && self <= ${max}`, message: `${field} must be between ${min} and ${max}` },
  ],
});

const obj = (
  title: string,
  description: string,
  properties: Record<string, Schema>,
  extra: Partial<Schema> = {},
): Schema => ({
  type: 'object',
  title,
  description,
  properties,
  ...extra,
});

export const DESTINATION_PATTERN =
  '^(function:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(:([0-9]+|\\$LATEST|[A-Za-z][A-Za-z0-9_-]{0,127}))?|nats:[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*|https?://[^\\s]+)$';

/** A regular expression as a CEL string literal (backslashes and quotes escaped). */
const cel = (re: string): string => `'${re.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The part of the destination contract (api/destinations.ts) the API server can check at
 * admission: the form, NATS subjects (no wildcards, nothing reserved for the platform), and the
 * host of http(s) URLs as written (plain, not a local or cluster name, not a literal address that
 * is loopback, private, link-local, shared, multicast or not global IPv6). The cluster's own
 * ranges (configurable) and what names resolve to are checked at delivery. Every rule is a regular
 * expression on the value itself (CEL's url() results have no size bound, so rules on them cost
 * more than the API server allows).
 */
function destinationRules(field: string): NonNullable<Schema['x-kubernetes-validations']> {
  const http = `self.matches('^https?://')`;
  /** The URL up to its host; then the host; then the end of the authority. */
  const at = (host: string): string => cel(`${HTTP_AUTHORITY}${host}${AUTHORITY_END}`);
  return [
    {
      rule: `self.matches(${cel(DESTINATION_PATTERN)})`,
      message: `${field} must be function:NAME[:QUALIFIER], nats:SUBJECT or http(s)://URL`,
    },
    {
      rule: `!self.startsWith('nats:') || !self.matches('[*>]')`,
      message: `${field} must not contain the NATS wildcards * or >: records go to one subject`,
    },
    {
      rule: `!self.startsWith('nats:') || !(self == 'nats:sluice' || self.startsWith('nats:sluice.') || self.startsWith('nats:$'))`,
      message: `${field} must not be a NATS subject under sluice. or $: those are reserved for the platform`,
    },
    {
      rule: `!self.startsWith('nats:_INBOX')`,
      message: `${field} must not be a NATS subject starting _INBOX: request-reply inboxes are not destinations`,
    },
    {
      rule: `!${http} || (isURL(self) && self.matches(${cel(HTTP_PLAIN_HOST)}))`,
      message: `${field} must be a valid http(s) URL whose host is written plainly: letters, digits, dots and dashes (IDNs in their xn-- form), or an IPv6 address in brackets`,
    },
    {
      rule: `!self.matches(${at(String.raw`([A-Za-z0-9-]+\.)*(?i:localhost|svc|cluster\.local|internal)\.?`)})`,
      message: `${field} must not name localhost, *.svc, *.cluster.local or *.internal: destinations reach public hosts only`,
    },
    {
      rule: `!self.matches(${at(String.raw`[A-Za-z0-9-]+\.?`)})`,
      message: `${field} must name a fully qualified host (a name with a dot) or an IP address`,
    },
    {
      rule: `!self.matches(${at(String.raw`([A-Za-z0-9-]+\.)*([0-9]+|0[xX][0-9A-Fa-f]*)\.?`)}) || self.matches(${at(DOTTED_QUAD)})`,
      message: `${field} must write an IPv4 host as a plain dotted quad (a.b.c.d)`,
    },
    {
      rule: `!self.matches(${at(String.raw`(0|10|127|169\.254|172\.(1[6-9]|2[0-9]|3[01])|192\.168|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])|192\.0\.0|198\.1[89]|22[4-9]|2[3-5][0-9])\.[0-9.]*`)})`,
      message: `${field} must not be a loopback, private, link-local (169.254.0.0/16), shared (100.64.0.0/10), multicast or reserved IPv4 address`,
    },
    {
      rule: `!self.matches(${cel(`${HTTP_AUTHORITY}\\[`)}) || (self.matches(${cel(`${HTTP_AUTHORITY}\\[[23][0-9A-Fa-f]{3}:`)}) && !self.matches(${cel(`${HTTP_AUTHORITY}\\[2002:`)}))`,
      message: `${field} must be a global unicast IPv6 address (2000::/3, not 6to4): loopback, link-local, unique-local, multicast and IPv4-mapped addresses are refused`,
    },
  ];
}

const destination = (field: string, description: string): Schema =>
  str(
    `${description} A URI of one of three forms: function:NAME[:QUALIFIER] (another function in the same namespace), nats:SUBJECT (a NATS subject, no wildcards, not under sluice. or $, not an _INBOX), or http(s)://URL (an HTTP POST to a public address: never loopback, private, link-local or cluster addresses, nor localhost, *.svc, *.cluster.local or *.internal; redirects are not followed).`,
    2048,
    { 'x-kubernetes-validations': destinationRules(field) },
  );

const conditions: Schema = {
  type: 'array',
  description: 'The latest observations of the object\'s state. "Ready" summarises them.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: obj(
    'Condition',
    "One aspect of the object's state (same shape as metav1.Condition).",
    {
      type: str('Type of condition, e.g. Ready.', 316),
      status: { type: 'string', description: 'True, False or Unknown.', enum: ['True', 'False', 'Unknown'] },
      reason: str('A CamelCase reason for the last transition.', 1024),
      message: str('A human-readable message about the last transition.', 32768),
      lastTransitionTime: {
        type: 'string',
        format: 'date-time',
        description: 'When the status last changed.',
      },
      observedGeneration: {
        type: 'integer',
        description: 'The .metadata.generation this condition was set from.',
      },
    },
    { required: ['type', 'status'] },
  ),
};

const observedGeneration: Schema = {
  type: 'integer',
  description: 'The most recent .metadata.generation the controller has acted on.',
};

export const RUNTIMES = ['nodejs22', 'nodejs24', 'provided'] as const;
export const NETWORK_MODES = ['public', 'private'] as const;
export const STARTING_POSITIONS = ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'] as const;
export const RECORD_FORMATS = ['raw', 'sqs'] as const;

/**
 * Environment variables the runtime sets; a function may not set them (Lambda's reserved list:
 * docs configuration-envvars, "Reserved environment variables"). Names with a reserved prefix are
 * reserved too: the runtime's own settings (SLUICE_*) and Lambda's (AWS_LAMBDA_*, LAMBDA_*).
 */
export const RESERVED_ENV = [
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const;
export const RESERVED_ENV_PREFIXES = ['AWS_LAMBDA_', 'LAMBDA_', 'SLUICE_'] as const;

/** Whether a function may not set this environment variable itself (the CRD rejects it). */
export function isReservedEnv(name: string): boolean {
  return (
    (RESERVED_ENV as readonly string[]).includes(name) ||
    RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p))
  );
}

/** CEL: variable `k` is reserved (the same test as isReservedEnv). */
const RESERVED_ENV_CEL = `(k in [${RESERVED_ENV.map((e) => `'${e}'`).join(', ')}] || ${RESERVED_ENV_PREFIXES.map(
  (p) => `k.startsWith('${p}')`,
).join(' || ')})`;
const RESERVED_ENV_TEXT = `${RESERVED_ENV.join(', ')} and names starting with ${RESERVED_ENV_PREFIXES.join(', ')}`;

/**
 * Names of Functions become DNS-1035 labels: the names of their Deployments and Services
 * (`<name>-latest`, shortened with a hash when long) and the values of the `sluice.dev/function`
 * label on them and their pods (at most 63 characters).
 */
export const FUNCTION_NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';

/** A package's digest: `sha256:` and the SHA-256 of the zip file's bytes, in lower-case hex. */
export const PACKAGE_DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';

/** Most layers a function takes (Lambda's limit). */
export const MAX_LAYERS = 5;

/** A layer version's name, as Lambda's (LayerName without the ARN form). */
export const LAYER_NAME_PATTERN = '^[a-zA-Z0-9-_]{1,140}$';

/**
 * A layer version's ARN: the account field is the namespace (a DNS label), the version a
 * positive integer. Capture groups: region, namespace, layer name, version.
 */
export const LAYER_VERSION_ARN_PATTERN =
  '^arn:aws:lambda:([a-z0-9-]+):([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):layer:([a-zA-Z0-9-_]{1,140}):([1-9][0-9]{0,8})$';

const packageDigest = (field: string, description: string): Schema =>
  str(description, 71, {
    'x-kubernetes-validations': [
      {
        rule: `self.matches(${cel(PACKAGE_DIGEST_PATTERN)})`,
        message: `${field} must be sha256: followed by 64 lower-case hex digits (the SHA-256 of the zip file)`,
      },
    ],
  });

const code = obj(
  'FunctionCode',
  "Where the function's code comes from. Exactly one of inline, configMap, image or package.",
  {
    inline: str(
      'Source of a small function (the handler file, e.g. index.js). Stored in an immutable, content-hashed ConfigMap mounted at /var/task.',
      262144,
    ),
    configMap: obj(
      'CodeConfigMap',
      "A ConfigMap in the function's namespace whose files become /var/task.",
      { name: str('Name of the ConfigMap.', 253) },
      { required: ['name'] },
    ),
    image: str(
      'A container image: for runtime provided, an image whose entrypoint speaks the Lambda Runtime API; for a Node.js runtime, an image whose /var/task holds the code.',
      1024,
    ),
    package: packageDigest(
      'spec.code.package',
      "A zip package by digest: sha256:<64 lower-case hex digits>, the SHA-256 of the zip file's bytes. The package is stored in the platform's object store (uploaded with Lambda's CreateFunction or UpdateFunctionCode on the gateway, e.g. aws lambda create-function --zip-file fileb://fn.zip) and unpacked read-only at /var/task before the handler starts. With runtime provided the zip holds an executable bootstrap at its root (or a layer provides /opt/bootstrap). At most 50 MB zipped, 250 MB unzipped with the layers.",
    ),
  },
  {
    'x-kubernetes-validations': [
      {
        rule: '[has(self.inline), has(self.configMap), has(self.image), has(self.package)].filter(x, x).size() == 1',
        message: 'spec.code must set exactly one of inline, configMap, image or package',
      },
    ],
  },
);

const layers: Schema = {
  type: 'array',
  description: `Layer versions unpacked in order into /opt before the handler starts (a later layer's files replace an earlier one's), at most ${MAX_LAYERS}: ARNs arn:aws:lambda:REGION:NAMESPACE:layer:NAME:VERSION naming LayerVersions of the function's own namespace (NAMESPACE must be it: the chart's admission policy refuses others). Node.js finds /opt/nodejs/node_modules; a custom runtime (provided) may come as /opt/bootstrap. Unzipped, the function's package and its layers together are at most 250 MB.`,
  maxItems: MAX_LAYERS,
  items: str('A layer version ARN: arn:aws:lambda:REGION:NAMESPACE:layer:NAME:VERSION.', 256, {
    'x-kubernetes-validations': [
      {
        rule: `self.matches(${cel(LAYER_VERSION_ARN_PATTERN)})`,
        message:
          'spec.layers[] must be a layer version ARN arn:aws:lambda:REGION:NAMESPACE:layer:NAME:VERSION (NAME: letters, digits, - and _, at most 140; VERSION: a positive integer)',
      },
    ],
  }),
  'x-kubernetes-validations': [
    {
      rule: `self.size() <= ${MAX_LAYERS}`,
      message: `spec.layers may list at most ${MAX_LAYERS} layer versions`,
    },
    {
      rule: "self.all(a, self.exists_one(b, b.split(':').size() == 8 && a.split(':').size() == 8 && b.split(':')[6] == a.split(':')[6]))",
      message: 'spec.layers must not list two versions of the same layer',
    },
  ],
};

const peer = obj(
  'NetworkPeer',
  "A destination a private function may reach: pods (namespace and podSelector) or an IP block (cidr). Not allowed unless the cluster admin allows them (chart values functions.network.allowedPeerNamespaces, allowedPeerCidrs): the platform's namespace and kube-system, link-local addresses (169.254.0.0/16 with the cloud metadata service, fe80::/10) and the cluster's own networks (functions.network.clusterCidrs). The API server refuses them; the controller refuses them too (Ready=False, reason PeerNotAllowed).",
  {
    namespace: str("Namespace of the peer pods (default: the function's namespace).", 63),
    podSelector: {
      type: 'object',
      description: 'Labels of the peer pods (all pods of the namespace when empty).',
      additionalProperties: { type: 'string', description: 'Label value.', maxLength: 63 },
    },
    cidr: str(
      'An IP block instead of pods, e.g. 203.0.113.0/24 (outside the cluster: name pods by namespace and podSelector).',
      64,
      {
        'x-kubernetes-validations': [
          {
            rule: 'isCIDR(self)',
            message: 'spec.network.peers[].cidr must be a CIDR such as 203.0.113.0/24',
          },
        ],
      },
    ),
    ports: {
      type: 'array',
      description: 'TCP ports allowed (all when empty).',
      maxItems: 32,
      items: { type: 'integer', description: 'A TCP port.', minimum: 1, maximum: 65535 },
    },
  },
  {
    'x-kubernetes-validations': [
      {
        rule: '!has(self.cidr) || (!has(self.namespace) && !has(self.podSelector))',
        message:
          'spec.network.peers[] names either pods (namespace, podSelector) or an IP block (cidr), not both',
      },
    ],
  },
);

export const functionSpec: Schema = obj(
  'FunctionSpec',
  "The function's code and configuration ($LATEST).",
  {
    description: str('Free text describing the function.', 256),
    runtime: {
      type: 'string',
      description:
        'The runtime: nodejs22 or nodejs24 (built-in Node.js runtime), or provided (a custom image speaking the Lambda Runtime API).',
      enum: [...RUNTIMES],
    },
    handler: str(
      'The handler for Node.js runtimes, as file.export (e.g. index.handler or src/app.main). Default: index.handler.',
      128,
      {
        default: 'index.handler',
        'x-kubernetes-validations': [
          {
            rule: "self.matches('^[^\\\\s]+\\\\.[A-Za-z_$][A-Za-z0-9_$]*$')",
            message: 'spec.handler must have the form file.export, e.g. index.handler',
          },
        ],
      },
    ),
    code,
    layers,
    memoryMB: intRange(
      'spec.memoryMB',
      "Memory in MB. CPU is requested in proportion (1769 MB = 1 vCPU), which is the function's share when the node's CPUs are busy; it may use idle CPU up to the platform's floor (chart value functions.cpuLimitFloorMillis).",
      128,
      10240,
      128,
    ),
    timeoutSeconds: intRange(
      'spec.timeoutSeconds',
      'Maximum duration of one invocation in seconds.',
      1,
      900,
      3,
    ),
    ephemeralStorageMB: intRange(
      'spec.ephemeralStorageMB',
      'Size of the writable /tmp in MB.',
      512,
      10240,
      512,
    ),
    environment: {
      type: 'object',
      description: `Environment variables for the function. Reserved (the runtime sets them; rejected here): ${RESERVED_ENV_TEXT}.`,
      maxProperties: 256,
      additionalProperties: { type: 'string', description: 'Value.', maxLength: 32768 },
      'x-kubernetes-validations': [
        {
          rule: `self.all(k, !${RESERVED_ENV_CEL})`,
          message: `spec.environment must not set reserved variables (${RESERVED_ENV_TEXT})`,
          messageExpression: `'spec.environment.' + self.filter(k, ${RESERVED_ENV_CEL})[0] + ' is reserved: spec.environment must not set reserved variables (${RESERVED_ENV_TEXT})'`,
        },
        {
          rule: "self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]*$'))",
          message: 'spec.environment keys must be valid variable names ([A-Za-z_][A-Za-z0-9_]*)',
        },
      ],
    },
    executionRole: obj(
      'ExecutionRole',
      'The identity the function runs as: what it may call. No Kubernetes API token is mounted when unset.',
      {
        serviceAccountName: str(
          "A ServiceAccount in the function's namespace that opted in to being an execution role: annotated sluice.dev/execution-role: \"true\" (its owner's grant, as Lambda's iam:PassRole; kubectl annotate serviceaccount NAME sluice.dev/execution-role=true). No pod of the function runs as any other: Ready is False with reason ExecutionRoleNotAllowed (or ServiceAccountNotFound) until it does.",
          253,
        ),
      },
    ),
    network: obj(
      'FunctionNetwork',
      'Network reach of the function. public: internet egress but no cluster-private peers; private: only the listed peers (and the internet when allowInternet).',
      {
        mode: {
          type: 'string',
          description: 'public or private. Default: public.',
          enum: [...NETWORK_MODES],
          default: 'public',
        },
        allowInternet: {
          type: 'boolean',
          description: 'private mode: also allow egress to the internet.',
          default: false,
        },
        peers: {
          type: 'array',
          description: 'private mode: what the function may reach.',
          maxItems: 64,
          items: peer,
        },
      },
    ),
    concurrency: obj('FunctionConcurrency', 'Concurrency limits.', {
      reserved: intRange(
        'spec.concurrency.reserved',
        'Cap on concurrent executions; beyond it sync calls get 429 and async events wait. 0 stops all invocations.',
        0,
        100000,
      ),
    }),
    scaling: obj(
      'FunctionScaling',
      'How many pods run the function.',
      {
        minReplicas: intRange('spec.scaling.minReplicas', 'Pods kept warm.', 0, 1000, 0),
        maxReplicas: intRange('spec.scaling.maxReplicas', 'Upper bound on pods.', 1, 1000, 20),
        concurrencyPerPod: intRange(
          'spec.scaling.concurrencyPerPod',
          'Concurrent invocations one pod handles.',
          1,
          1000,
          1,
        ),
        scaleToZeroAfterSeconds: intRange(
          'spec.scaling.scaleToZeroAfterSeconds',
          'Idle time before scaling to zero.',
          0,
          86400,
          300,
        ),
      },
      {
        'x-kubernetes-validations': [
          {
            rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
            message: 'spec.scaling.minReplicas must not exceed spec.scaling.maxReplicas',
          },
        ],
      },
    ),
    async: obj('AsyncConfig', 'Asynchronous invocation: retries, event age, destinations.', {
      maxRetryAttempts: intRange(
        'spec.async.maxRetryAttempts',
        'Retries after a function error or timeout.',
        0,
        2,
        2,
      ),
      maxEventAgeSeconds: intRange(
        'spec.async.maxEventAgeSeconds',
        'How long an event may wait before it is sent to the failure destination.',
        60,
        21600,
        21600,
      ),
      retryDelaySeconds: intRange(
        'spec.async.retryDelaySeconds',
        'Delay before the first retry; doubled for the second (Lambda: about 1 then 2 minutes).',
        1,
        600,
        60,
      ),
      onSuccess: destination('spec.async.onSuccess', 'Where a record of each successful invocation is sent.'),
      onFailure: destination(
        'spec.async.onFailure',
        'Where a record of each failed event is sent; the dead-letter stream when unset.',
      ),
    }),
    invokePolicy: {
      type: 'array',
      description:
        "Who may invoke the function (a resource policy). Default: service accounts of the function's namespace.",
      maxItems: 64,
      items: obj(
        'InvokePermission',
        'One principal allowed to invoke.',
        {
          principal: str(
            'serviceaccount:NAMESPACE:NAME, namespace:NAME (any service account there), user:NAME (an access key bound to that principal), or "*" (anyone, e.g. a public function URL).',
            512,
            {
              'x-kubernetes-validations': [
                {
                  rule: "self == '*' || self.matches('^(serviceaccount:[a-z0-9-]+:[a-z0-9.-]+|namespace:[a-z0-9-]+|user:[A-Za-z0-9_.@-]+)$')",
                  message:
                    'spec.invokePolicy[].principal must be serviceaccount:NAMESPACE:NAME, namespace:NAME, user:NAME or "*"',
                },
              ],
            },
          ),
        },
        { required: ['principal'] },
      ),
    },
    versioning: obj('Versioning', 'Version publishing.', {
      autoPublish: {
        type: 'boolean',
        description: 'Publish a new version on every change of code or configuration.',
        default: false,
      },
    }),
  },
  {
    required: ['runtime', 'code'],
    'x-kubernetes-validations': [
      {
        rule: "self.runtime != 'provided' || has(self.code.image) || has(self.code.package)",
        message: 'spec.code.image or spec.code.package is required when spec.runtime is provided',
      },
    ],
  },
);

const functionStatus = obj('FunctionStatus', 'Observed state of the function.', {
  conditions,
  observedGeneration,
  latestVersion: str('The highest published version number.', 16),
  codeSha256: str('SHA-256 of the code and configuration of $LATEST.', 64),
  url: str('The function URL on the gateway.', 2048),
  replicas: { type: 'integer', description: 'Desired pods of $LATEST.' },
  readyReplicas: { type: 'integer', description: 'Ready pods of $LATEST.' },
  replicaSummary: str('ready/desired pods of $LATEST, for kubectl get.', 32),
});

const versionSpec = obj(
  'FunctionVersionSpec',
  "An immutable snapshot of a function's code and configuration. Cannot change once created.",
  {
    function: str('Name of the Function this version belongs to.', 63),
    version: str('The version number: 1, 2, 3, …', 16, {
      'x-kubernetes-validations': [
        {
          rule: "self.matches('^[1-9][0-9]*$')",
          message: 'spec.version must be a positive integer (1, 2, 3, …)',
        },
      ],
    }),
    description: str('Free text, e.g. the change this version carries.', 256),
    codeSha256: str("SHA-256 of the snapshot's code and configuration.", 64),
    snapshot: { ...functionSpec, description: "The function's spec at publish time." },
  },
  {
    required: ['function', 'version', 'snapshot'],
    'x-kubernetes-validations': [
      { rule: 'self == oldSelf', message: 'spec is immutable: a published FunctionVersion cannot change' },
    ],
  },
);

const versionStatus = obj('FunctionVersionStatus', 'Observed state of the version.', {
  conditions,
  observedGeneration,
  replicas: { type: 'integer', description: 'Desired pods of this version.' },
  readyReplicas: { type: 'integer', description: 'Ready pods of this version.' },
  active: {
    type: 'boolean',
    description: 'Whether pods run for this version (an alias points to it, or it has a minimum scale).',
  },
});

const aliasSpec = obj(
  'AliasSpec',
  'A name (prod, stage, …) pointing to one version of a function, optionally splitting traffic with a second version.',
  {
    function: str('Name of the Function.', 63),
    name: str('The alias name used in qualifiers (function:NAME). Default: metadata.name.', 128),
    version: str('The version the alias points to: a version number or $LATEST.', 16, {
      'x-kubernetes-validations': [
        {
          rule: "self == '$LATEST' || self.matches('^[1-9][0-9]*$')",
          message: 'spec.version must be a version number or $LATEST',
        },
      ],
    }),
    description: str('Free text.', 256),
    additionalVersionWeights: {
      type: 'object',
      description: 'At most one other version and the share of traffic (0..1) it receives, e.g. {"4": 0.1}.',
      additionalProperties: {
        type: 'number',
        description: 'Share of invocations routed to this version, in [0, 1].',
      },
      'x-kubernetes-validations': [
        {
          rule: 'self.size() <= 1',
          message: 'spec.additionalVersionWeights may name at most one additional version',
        },
        {
          rule: 'self.all(k, self[k] >= 0.0 && self[k] <= 1.0)',
          message: 'spec.additionalVersionWeights values must be in [0, 1]',
        },
        {
          rule: "self.all(k, k.matches('^[1-9][0-9]*$'))",
          message: 'spec.additionalVersionWeights keys must be version numbers',
        },
      ],
    },
  },
  {
    required: ['function', 'version'],
    'x-kubernetes-validations': [
      {
        rule: "!has(self.name) || !self.name.matches('^[0-9]+$')",
        message: 'spec.name must not be purely numeric (that would read as a version)',
      },
      {
        rule: "!has(self.name) || self.name.matches('^[a-zA-Z][a-zA-Z0-9_-]*$')",
        message: 'spec.name must start with a letter and contain only letters, digits, - and _',
      },
      {
        rule: '!has(self.additionalVersionWeights) || !(self.version in self.additionalVersionWeights)',
        message: 'spec.additionalVersionWeights must name a version other than spec.version',
      },
    ],
  },
);

const aliasStatus = obj('AliasStatus', 'What the alias resolves to.', {
  conditions,
  observedGeneration,
  resolvedVersion: str('The version the alias resolves to.', 16),
  routing: str('The traffic split, e.g. "3=90%,4=10%".', 128),
});

const streamRef = (title: string, description: string): Schema =>
  obj(
    title,
    description,
    {
      stream: str('The JetStream stream.', 256),
      subject: str('Subject filter within the stream (wildcards allowed).', 1024),
      consumer: str('Durable consumer name (default: derived from the mapping).', 256),
    },
    { required: ['stream'] },
  );

const esmSpec = obj(
  'EventSourceMappingSpec',
  'A source polled by the poller and delivered to a function in batches.',
  {
    function: str('The function, optionally with a qualifier: NAME[:VERSION|:ALIAS].', 256),
    source: obj(
      'EventSource',
      'Exactly one of natsQueue, natsStream or schedule.',
      {
        natsQueue: streamRef(
          'NatsQueueSource',
          'A JetStream work queue: per-message acknowledgement (like SQS).',
        ),
        natsStream: streamRef(
          'NatsStreamSource',
          'An ordered JetStream stream: checkpoints, bisection on error (like Kinesis).',
        ),
        schedule: obj(
          'ScheduleSource',
          'A schedule: cron(...) or rate(...).',
          {
            expression: str(
              'cron(MIN HOUR DOM MONTH DOW YEAR) or rate(N unit) with unit seconds, minutes, hours or days.',
              256,
              {
                'x-kubernetes-validations': [
                  {
                    rule: "self.matches('^(cron\\\\([^)]+\\\\)|rate\\\\([1-9][0-9]* (second|seconds|minute|minutes|hour|hours|day|days)\\\\))$')",
                    message:
                      'spec.source.schedule.expression must be cron(...) or rate(N unit) with unit seconds, minutes, hours or days',
                  },
                ],
              },
            ),
            input: str('The event sent on each tick (JSON); a scheduled-event record when unset.', 262144),
            timezone: str('IANA time zone for cron expressions. Default: UTC.', 64),
          },
          { required: ['expression'] },
        ),
      },
      {
        'x-kubernetes-validations': [
          {
            rule: '[has(self.natsQueue), has(self.natsStream), has(self.schedule)].filter(x, x).size() == 1',
            message: 'spec.source must set exactly one of natsQueue, natsStream or schedule',
          },
        ],
      },
    ),
    batchSize: intRange('spec.batchSize', 'Most records per invocation.', 1, 10000, 10),
    maximumBatchingWindowSeconds: intRange(
      'spec.maximumBatchingWindowSeconds',
      'How long to gather records before invoking.',
      0,
      300,
      0,
    ),
    maximumConcurrency: intRange(
      'spec.maximumConcurrency',
      'Most concurrent invocations from this mapping.',
      1,
      1000,
      10,
    ),
    startingPosition: {
      type: 'string',
      description: 'Streams: where to start reading. Default: LATEST.',
      enum: [...STARTING_POSITIONS],
    },
    startingPositionTimestamp: {
      type: 'string',
      format: 'date-time',
      description: 'With AT_TIMESTAMP: the time to start from.',
    },
    maximumRetryAttempts: intRange(
      'spec.maximumRetryAttempts',
      'Retries of a failing batch before it goes to onFailure; -1 retries until the record expires.',
      -1,
      10000,
      3,
    ),
    maximumRecordAgeSeconds: intRange(
      'spec.maximumRecordAgeSeconds',
      'Streams: records older than this are sent to onFailure; -1 never.',
      -1,
      604800,
      -1,
    ),
    bisectBatchOnFunctionError: {
      type: 'boolean',
      description: 'Streams: split a failing batch in two and retry each half.',
      default: false,
    },
    functionResponseTypes: {
      type: 'array',
      description:
        'ReportBatchItemFailures: the function returns {batchItemFailures: [{itemIdentifier}]} and only those are retried.',
      maxItems: 1,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', description: 'A response type.', enum: ['ReportBatchItemFailures'] },
    },
    filterCriteria: obj(
      'FilterCriteria',
      'Only records matching one of the patterns are delivered; the rest are acknowledged and counted.',
      {
        filters: {
          type: 'array',
          description: 'Up to 5 filters.',
          maxItems: 5,
          items: obj(
            'Filter',
            'An event pattern.',
            { pattern: str('An event pattern (EventBridge syntax subset) as JSON.', 4096) },
            { required: ['pattern'] },
          ),
        },
      },
    ),
    onFailure: destination('spec.onFailure', 'Where records that could not be processed are sent.'),
    recordFormat: {
      type: 'string',
      description:
        'raw: records as JetStream messages; sqs: shaped like SQS events so unchanged Lambda handlers work. Default: raw.',
      enum: [...RECORD_FORMATS],
      default: 'raw',
    },
    enabled: { type: 'boolean', description: 'Whether the mapping polls. Default: true.', default: true },
  },
  {
    required: ['function', 'source'],
    'x-kubernetes-validations': [
      {
        rule: "!has(self.startingPosition) || self.startingPosition != 'AT_TIMESTAMP' || has(self.startingPositionTimestamp)",
        message: 'spec.startingPositionTimestamp is required when spec.startingPosition is AT_TIMESTAMP',
      },
      {
        rule: '!has(self.startingPosition) || has(self.source.natsStream)',
        message: 'spec.startingPosition applies only to spec.source.natsStream',
      },
    ],
  },
);

const esmStatus = obj('EventSourceMappingStatus', 'Observed state of the mapping.', {
  conditions,
  observedGeneration,
  state: {
    type: 'string',
    description: 'Creating, Enabled, Disabled, Deleting or Failed.',
    enum: ['Creating', 'Enabled', 'Disabled', 'Deleting', 'Failed'],
  },
  owner: str('The poller replica processing the mapping.', 253),
  lastProcessingResult: str('Result of the last batch, e.g. OK or the last error.', 1024),
  lastModified: { type: 'string', format: 'date-time', description: 'When the state last changed.' },
  backlog: { type: 'integer', description: 'Records waiting in the source.' },
});

const layerVersionSpec = obj(
  'LayerVersionSpec',
  "An immutable version of a layer: a zip package unpacked into /opt of the functions that list it in spec.layers. Published with Lambda's PublishLayerVersion on the gateway (aws lambda publish-layer-version); cannot change once created.",
  {
    layerName: str("The layer's name as Lambda knows it (letters, digits, - and _, at most 140).", 140, {
      'x-kubernetes-validations': [
        {
          rule: `self.matches(${cel(LAYER_NAME_PATTERN)})`,
          message: 'spec.layerName must be 1 to 140 letters, digits, - and _',
        },
      ],
    }),
    version: {
      type: 'integer',
      description: 'The version number: 1, 2, 3, … per layer name and namespace.',
      'x-kubernetes-validations': [
        { rule: 'self >= 1', message: 'spec.version must be a positive integer (1, 2, 3, …)' },
      ],
    },
    package: packageDigest(
      'spec.package',
      "The layer's zip package by digest: sha256:<64 lower-case hex digits>, the SHA-256 of the zip file's bytes, in the platform's object store.",
    ),
    codeSize: {
      type: 'integer',
      description: 'Size of the zip file in bytes.',
      'x-kubernetes-validations': [{ rule: 'self >= 0', message: 'spec.codeSize must not be negative' }],
    },
    description: str('Free text describing the version.', 256),
    licenseInfo: str("The layer's software license (an SPDX identifier, a URL or free text).", 512),
    compatibleRuntimes: {
      type: 'array',
      description:
        'Runtimes the layer is meant for, as Lambda names them (e.g. nodejs22.x, provided.al2023); informational.',
      maxItems: 15,
      items: str('A runtime name.', 64),
    },
    compatibleArchitectures: {
      type: 'array',
      description: 'Instruction set architectures the layer is meant for (x86_64, arm64); informational.',
      maxItems: 2,
      items: { type: 'string', description: 'An architecture.', enum: ['x86_64', 'arm64'] },
    },
  },
  {
    required: ['layerName', 'version', 'package'],
    'x-kubernetes-validations': [
      { rule: 'self == oldSelf', message: 'spec is immutable: a published LayerVersion cannot change' },
    ],
  },
);

const layerVersionStatus = obj('LayerVersionStatus', 'Observed state of the layer version.', {
  conditions,
  observedGeneration,
});

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface Kind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Schema;
  status: Schema;
  columns: PrinterColumn[];
  /** Extra validation on the whole object (CEL can see metadata.name here). */
  rootValidations?: Schema['x-kubernetes-validations'];
}

const ready: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: Kind[] = [
  {
    kind: 'Function',
    plural: 'functions',
    singular: 'function',
    shortNames: ['fn'],
    description: 'A function: code and configuration ($LATEST), run on demand with Lambda semantics.',
    spec: functionSpec,
    status: functionStatus,
    rootValidations: [
      {
        rule: `self.metadata.name.size() <= 63 && self.metadata.name.matches('${FUNCTION_NAME_PATTERN}')`,
        message:
          'metadata.name must be a DNS label of at most 63 characters (lower-case letters, digits and "-", starting with a letter, ending with a letter or digit): it names the Deployments and Services of the function and labels its pods',
      },
    ],
    columns: [
      { name: 'Runtime', type: 'string', jsonPath: '.spec.runtime' },
      {
        name: 'Latest',
        type: 'string',
        jsonPath: '.status.latestVersion',
        description: 'Highest published version.',
      },
      {
        name: 'Replicas',
        type: 'string',
        jsonPath: '.status.replicaSummary',
        description: 'Ready/desired pods of $LATEST.',
      },
      ready,
      age,
    ],
  },
  {
    kind: 'FunctionVersion',
    plural: 'functionversions',
    singular: 'functionversion',
    shortNames: ['fnv'],
    description: 'An immutable, numbered snapshot of a function.',
    spec: versionSpec,
    status: versionStatus,
    columns: [
      { name: 'Function', type: 'string', jsonPath: '.spec.function' },
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
      { name: 'Active', type: 'boolean', jsonPath: '.status.active' },
      ready,
      age,
    ],
  },
  {
    kind: 'Alias',
    plural: 'aliases',
    singular: 'alias',
    shortNames: [],
    description: 'A named pointer to a function version, with optional weighted routing to a second version.',
    spec: aliasSpec,
    status: aliasStatus,
    columns: [
      { name: 'Function', type: 'string', jsonPath: '.spec.function' },
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
      { name: 'Routing', type: 'string', jsonPath: '.status.routing' },
      ready,
      age,
    ],
    rootValidations: [
      {
        rule: "has(self.spec.name) || !self.metadata.name.matches('^[0-9]+$')",
        message:
          'metadata.name must not be purely numeric when spec.name is unset: alias names cannot look like versions',
      },
    ],
  },
  {
    kind: 'EventSourceMapping',
    plural: 'eventsourcemappings',
    singular: 'eventsourcemapping',
    shortNames: ['esm'],
    description: 'A queue, stream or schedule polled by Sluice and delivered to a function in batches.',
    spec: esmSpec,
    status: esmStatus,
    columns: [
      { name: 'Function', type: 'string', jsonPath: '.spec.function' },
      { name: 'State', type: 'string', jsonPath: '.status.state' },
      { name: 'Backlog', type: 'integer', jsonPath: '.status.backlog' },
      { name: 'Batch', type: 'integer', jsonPath: '.spec.batchSize', priority: 1 },
      ready,
      age,
    ],
  },
  {
    kind: 'LayerVersion',
    plural: 'layerversions',
    singular: 'layerversion',
    shortNames: ['lv'],
    description:
      'An immutable, numbered version of a layer: a zip package functions unpack into /opt (spec.layers).',
    spec: layerVersionSpec,
    status: layerVersionStatus,
    columns: [
      { name: 'Layer', type: 'string', jsonPath: '.spec.layerName' },
      { name: 'Version', type: 'integer', jsonPath: '.spec.version' },
      { name: 'Size', type: 'integer', jsonPath: '.spec.codeSize', description: 'Zip size in bytes.' },
      { name: 'Digest', type: 'string', jsonPath: '.spec.package' },
      age,
    ],
  },
];
