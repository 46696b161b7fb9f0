import { JetStreamApiError } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { isConsumerMissing } from './dispatcher.js';

const apiError = (err_code: number, description: string): JetStreamApiError =>
  new JetStreamApiError({ code: 404, err_code, description });

describe('isConsumerMissing (the pull loop recreates the consumer)', () => {
  it.each([
    { name: 'consumer info: consumer not found (10014)', err: apiError(10014, 'consumer not found'), want: true },
    { name: 'a pull answered "consumer not found"', err: new Error('consumer not found'), want: true },
    { name: 'a pull answered 409 "consumer deleted"', err: new Error('consumer deleted'), want: true },
    { name: 'stream not found (10059): not the consumer', err: apiError(10059, 'stream not found'), want: false },
    { name: 'a timeout', err: new Error('TIMEOUT'), want: false },
    { name: 'not an error', err: 'consumer not found', want: false },
  ])('$name', ({ err, want }) => expect(isConsumerMissing(err)).toBe(want));
});
