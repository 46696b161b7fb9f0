import { createHash } from 'node:crypto';
import type { EventSourceMappingResource } from '../api/types.js';
import { ValidationError } from '../lib/errors.js';
import { parseDestination } from '../api/destinations.js';
import { compileFilters, type CompiledFilter } from './filter.js';
import type { InvokeTarget } from './invoker.js';
import type { RecordFormat } from './records.js';
import { parseSchedule, type Schedule } from './schedule-expression.js';

/** The finalizer the poller puts on every mapping: its consumers and checkpoints are removed first. */
export const ESM_FINALIZER = 'sluice.dev/esm-cleanup';

export type SourceKind = 'natsQueue' | 'natsStream' | 'schedule';

export interface MappingRef {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  /** metadata.creationTimestamp in ms: rate schedules count from it. */
  createdAtMs: number;
}

export type SourceConfig =
  | {
      kind: 'natsQueue' | 'natsStream';
      stream: string;
      subject?: string;
      consumer: string;
      ownsConsumer: boolean;
    }
  | { kind: 'schedule'; expression: string; schedule: Schedule; input?: string; timezone: string };

/** An EventSourceMapping with its defaults applied and its expressions compiled. */
export interface MappingConfig {
  ref: MappingRef;
  target: InvokeTarget;
  source: SourceConfig;
  batchSize: number;
  batchingWindowMs: number;
  maximumConcurrency: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  startingPositionTimestampMs?: number;
  maximumRetryAttempts: number;
  maximumRecordAgeSeconds: number;
  bisect: boolean;
  reportBatchItemFailures: boolean;
  filter: CompiledFilter;
  hasFilters: boolean;
  onFailure?: string;
  recordFormat: RecordFormat;
  enabled: boolean;
}

/** A JetStream consumer name for a mapping: `sluice-esm-<ns>-<name>`, shortened with a hash when long. */
export function defaultConsumerName(namespace: string, name: string): string {
  const base = `sluice-esm-${namespace}-${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  if (base.length <= 64) return base;
  const h = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 8);
  return `${base.slice(0, 55)}-${h}`;
}

/** Splits `NAME[:QUALIFIER]`. */
export function parseFunctionRef(ref: string, namespace: string): InvokeTarget {
  const [fn, qualifier, extra] = ref.split(':');
  if (!fn || extra !== undefined || qualifier === '') {
    throw new ValidationError(`spec.function "${ref}" must be NAME or NAME:QUALIFIER`);
  }
  return { namespace, function: fn, ...(qualifier ? { qualifier } : {}) };
}

function sourceOf(esm: EventSourceMappingResource): SourceConfig {
  const { natsQueue, natsStream, schedule } = esm.spec.source;
  const ns = esm.metadata.namespace ?? 'default';
  const name = esm.metadata.name ?? '';
  const stream = natsQueue ?? natsStream;
  if (stream && !schedule && !(natsQueue && natsStream)) {
    return {
      kind: natsQueue ? 'natsQueue' : 'natsStream',
      stream: stream.stream,
      ...(stream.subject ? { subject: stream.subject } : {}),
      consumer: stream.consumer ?? defaultConsumerName(ns, name),
      ownsConsumer: stream.consumer === undefined,
    };
  }
  if (schedule && !stream) {
    const timezone = schedule.timezone ?? 'UTC';
    return {
      kind: 'schedule',
      expression: schedule.expression,
      schedule: parseSchedule(schedule.expression, timezone),
      ...(schedule.input !== undefined ? { input: schedule.input } : {}),
      timezone,
    };
  }
  throw new ValidationError('spec.source must set exactly one of natsQueue, natsStream or schedule');
}

function limitsOf(
  s: EventSourceMappingResource['spec'],
): Pick<
  MappingConfig,
  | 'batchSize'
  | 'batchingWindowMs'
  | 'maximumConcurrency'
  | 'startingPosition'
  | 'maximumRetryAttempts'
  | 'maximumRecordAgeSeconds'
  | 'bisect'
> {
  return {
    batchSize: s.batchSize ?? 10,
    batchingWindowMs: (s.maximumBatchingWindowSeconds ?? 0) * 1000,
    maximumConcurrency: s.maximumConcurrency ?? 10,
    startingPosition: s.startingPosition ?? 'LATEST',
    maximumRetryAttempts: s.maximumRetryAttempts ?? 3,
    maximumRecordAgeSeconds: s.maximumRecordAgeSeconds ?? -1,
    bisect: s.bisectBatchOnFunctionError ?? false,
  };
}

export function refOf(esm: EventSourceMappingResource): MappingRef {
  const md = esm.metadata;
  return {
    namespace: md.namespace ?? 'default',
    name: md.name ?? '',
    uid: md.uid ?? '',
    generation: md.generation ?? 0,
    createdAtMs: md.creationTimestamp ? new Date(md.creationTimestamp).getTime() : 0,
  };
}

/** Applies the schema's defaults; throws a ValidationError (the mapping goes Failed) on what the schema cannot check. */
export function resolveMapping(esm: EventSourceMappingResource): MappingConfig {
  const s = esm.spec;
  const namespace = esm.metadata.namespace ?? 'default';
  const filters = (s.filterCriteria?.filters ?? []).map((f) => f.pattern);
  const ts = s.startingPositionTimestamp ? Date.parse(s.startingPositionTimestamp) : undefined;
  if (s.startingPosition === 'AT_TIMESTAMP' && (ts === undefined || Number.isNaN(ts))) {
    throw new ValidationError('spec.startingPositionTimestamp must be a date-time with AT_TIMESTAMP');
  }
  if (s.onFailure) parseDestination(s.onFailure);
  return {
    ref: refOf(esm),
    target: parseFunctionRef(s.function, namespace),
    source: sourceOf(esm),
    ...limitsOf(s),
    ...(ts !== undefined ? { startingPositionTimestampMs: ts } : {}),
    reportBatchItemFailures: ((s.functionResponseTypes ?? []) as string[]).includes(
      'ReportBatchItemFailures',
    ),
    filter: compileFilters(filters),
    hasFilters: filters.length > 0,
    ...(s.onFailure ? { onFailure: s.onFailure } : {}),
    recordFormat: s.recordFormat ?? 'raw',
    enabled: s.enabled ?? true,
  };
}

export const mappingKey = (r: { namespace: string; name: string }): string => `${r.namespace}/${r.name}`;
