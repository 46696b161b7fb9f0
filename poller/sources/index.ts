import { natsQueue } from './nats-queue.js';
import { natsStream } from './nats-stream.js';
import { schedule } from './schedule.js';
import type { SourceRegistry } from './source.js';

export * from './source.js';
export { ConsumerMissingError, consumerBacklog } from './delivery.js';

/** Every source kind, by the field that selects it in `spec.source`. */
export const SOURCES: SourceRegistry = { natsQueue, natsStream, schedule };
