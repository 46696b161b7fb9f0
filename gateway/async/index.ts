/**
 * Asynchronous invocation: durable JetStream queue, retries, maximum event age, destinations,
 * dead-letter queue with redrive. Wiring in README.md. The contracts it shares (records, subject
 * and consumer names, outcomes, limits, destination URIs) are api/'s: import them from there.
 */
export { EventAcceptor, derivedRequestId } from './accept.js';
export type { AcceptRequest, AcceptResult, AcceptorDeps, GatewayAsyncInvocation } from './accept.js';
export { AsyncDispatcher, DEFAULT_DISPATCHER_SETTINGS } from './dispatcher.js';
export type { DispatcherDeps, DispatcherSettings } from './dispatcher.js';
export { Destinations, DEFAULT_DELIVERY } from './destinations.js';
export type { DeliveryPolicy, DestinationDeps } from './destinations.js';
export { DeadLetterQueue } from './dlq.js';
export type { DeadLetter, DeadLetterPage, DeadLetterSummary, RedriveResult } from './dlq.js';
export { AsyncPayloadTooLargeError, EnqueueFailedError, DestinationDeliveryError } from './errors.js';
export { asyncFunctionOf, asyncFunction } from './function-config.js';
export type { AsyncFunction } from './function-config.js';
export { HttpFunctionInvoker, outcomeOfResponse, attemptClientContext } from './invoker.js';
export { gatewayFunctionInvoker } from './gateway-invoker.js';
export type { FunctionInvoker, InvokeRequest } from './invoker.js';
export { AsyncMetrics } from './metrics.js';
export { AsyncStreams, DEFAULT_STREAM_SETTINGS, ackWaitMs } from './streams.js';
export type { StreamSettings } from './streams.js';
export { AsyncFunctionWatcher } from './watcher.js';
export type { FunctionWatchSource, FunctionWatchHandlers } from './watcher.js';
export { createAsync, startAsync } from './pipeline.js';
export type { AsyncPipeline, AsyncPipelineOptions } from './pipeline.js';
