import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { nextTick, parseSchedule, ticksBetween } from './schedule-expression.js';

const t = (iso: string): number => Date.parse(iso);

describe('parseSchedule and nextTick', () => {
  it.each([
    {
      name: 'rate(5 seconds) from the anchor',
      expr: 'rate(5 seconds)',
      after: '2025-01-01T00:00:07Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-01T00:00:10Z',
    },
    {
      name: 'rate on a tick moves to the next',
      expr: 'rate(5 seconds)',
      after: '2025-01-01T00:00:10Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-01T00:00:15Z',
    },
    {
      name: 'rate before the anchor',
      expr: 'rate(1 minute)',
      after: '2024-12-31T00:00:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-01T00:01:00Z',
    },
    {
      name: 'rate(2 hours)',
      expr: 'rate(2 hours)',
      after: '2025-01-01T03:00:00Z',
      anchor: '2025-01-01T00:30:00Z',
      want: '2025-01-01T04:30:00Z',
    },
    {
      name: 'rate(1 day)',
      expr: 'rate(1 day)',
      after: '2025-01-01T00:00:01Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-02T00:00:00Z',
    },
    {
      name: 'cron every 5 minutes with 0/5',
      expr: 'cron(0/5 * * * ? *)',
      after: '2025-01-01T00:01:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-01T00:05:00Z',
    },
    {
      name: 'cron at 10:15 every day',
      expr: 'cron(15 10 * * ? *)',
      after: '2025-01-01T10:15:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-02T10:15:00Z',
    },
    {
      name: 'cron weekdays MON-FRI',
      expr: 'cron(0 12 ? * MON-FRI *)',
      after: '2025-01-04T00:00:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-06T12:00:00Z',
    },
    {
      name: 'cron day-of-week 2 is Monday',
      expr: 'cron(0 12 ? * 2 *)',
      after: '2025-01-04T00:00:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-06T12:00:00Z',
    },
    {
      name: 'cron last Friday (6L)',
      expr: 'cron(15 10 ? * 6L 2025)',
      after: '2025-01-01T00:00:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-01-31T10:15:00Z',
    },
    {
      name: 'cron last day of month (L)',
      expr: 'cron(0 0 L * ? *)',
      after: '2025-02-01T00:00:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2025-02-28T00:00:00Z',
    },
    {
      name: 'cron year restriction',
      expr: 'cron(0 0 1 1 ? 2027)',
      after: '2025-06-01T00:00:00Z',
      anchor: '2025-01-01T00:00:00Z',
      want: '2027-01-01T00:00:00Z',
    },
  ])('$name', ({ expr, after, anchor, want }) => {
    expect(new Date(nextTick(parseSchedule(expr), t(after), t(anchor))!).toISOString()).toBe(
      new Date(want).toISOString(),
    );
  });

  it('cron in a time zone', () => {
    const s = parseSchedule('cron(0 9 * * ? *)', 'Europe/Berlin');
    expect(new Date(nextTick(s, t('2025-01-01T00:00:00Z'), 0)!).toISOString()).toBe(
      '2025-01-01T08:00:00.000Z',
    );
  });

  it('no tick left after the last year', () => {
    expect(nextTick(parseSchedule('cron(0 0 1 1 ? 2025)'), t('2025-06-01T00:00:00Z'), 0)).toBeUndefined();
  });

  it.each([
    { name: 'five-field cron', expr: 'cron(0 12 * * ?)' },
    { name: 'both day fields set', expr: 'cron(0 12 1 * MON *)' },
    { name: 'neither day field is ?', expr: 'cron(0 12 * * * *)' },
    { name: 'rate with plural for 1', expr: 'rate(1 minutes)' },
    { name: 'rate with singular for 5', expr: 'rate(5 minute)' },
    { name: 'rate(0 minutes)', expr: 'rate(0 minutes)' },
    { name: 'unknown', expr: 'every 5 minutes' },
    { name: 'bad cron field', expr: 'cron(99 12 * * ? *)' },
  ])('rejects $name', ({ expr }) => expect(() => parseSchedule(expr)).toThrow(ValidationError));

  it('ticksBetween lists the ticks in a range', () => {
    const s = parseSchedule('rate(2 seconds)');
    expect(ticksBetween(s, 1000, 7000, 0)).toEqual([2000, 4000, 6000]);
  });
});
