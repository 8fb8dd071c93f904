/**
 * OpenTelemetry metrics for sluice's parts (`sluice/otel`): give it a `Meter`
 * (from `@opentelemetry/api`, an optional peer dependency; only its types are
 * used) and the parts to watch. Counters and histograms come from the
 * admission channel; gauges read each part's `stats()` when the SDK collects.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import { ADMISSION_CHANNEL, type AdmissionMessage, traces } from '../core/trace.js';
import { show } from '../core/validate.js';

/** A part with counters to read: every limiter of sluice. */
export interface MeteredPart {
  stats(): { readonly running: number; readonly waiting: number };
}

export interface MetricsOptions {
  /** Where the instruments are made: `metrics.getMeter('my-service')`. */
  readonly meter: Meter;
  /**
   * Parts whose gauges (`sluice.running`, `sluice.waiting`, `sluice.limit`) are
   * observed. Counters and histograms count every part's admissions (their
   * `sluice.part.name` tells them apart) unless `only` is set. @default []
   */
  readonly parts?: readonly MeteredPart[];
  /** Count only the admissions of `parts`. @default false */
  readonly only?: boolean;
}

/** What {@link sluiceMetrics} returns: stop counting and observing. */
export interface SluiceMetrics {
  close(): void;
}

const attributesOf = (kind: string, name: string): Attributes => ({
  'sluice.part.kind': kind,
  'sluice.part.name': name,
});

/**
 * Instruments (seconds for durations, as OpenTelemetry's conventions ask):
 * - `sluice.admissions` (counter): calls admitted.
 * - `sluice.rejections` (counter, `sluice.rejection.reason`: timeout, aborted,
 *   full, closed, cleared, overloaded, unavailable, failed): calls refused or
 *   that left the queue.
 * - `sluice.wait.duration` (histogram, s; `sluice.outcome`: admitted or the
 *   rejection reason): time in the queue, 0 when admitted at once.
 * - `sluice.hold.duration` (histogram, s): time a lease was held.
 * - `sluice.running`, `sluice.waiting` (gauges) and `sluice.limit` (gauge:
 *   the capacity or limit in force, when the part has one), for `parts`.
 *
 * Every instrument carries `sluice.part.kind` (Semaphore, Pool, ...) and
 * `sluice.part.name` (the part's `name` option).
 */
export function sluiceMetrics(options: MetricsOptions): SluiceMetrics {
  const meter = options?.meter;
  if (typeof meter?.createCounter !== 'function' || typeof meter.createHistogram !== 'function') {
    throw new TypeError(`Expected \`meter\` to be an OpenTelemetry Meter, got ${show(meter)}`);
  }
  const parts = options.parts ?? [];
  if (!Array.isArray(parts)) throw new TypeError(`Expected \`parts\` to be an array of parts, got ${show(parts)}`);
  const described = parts.map((part, i) => {
    const trace = traces.get(part);
    if (trace === undefined || typeof part.stats !== 'function') {
      throw new TypeError(`Expected \`parts[${i}]\` to be a sluice part with stats(), got ${show(part)}`);
    }
    return { part, attributes: attributesOf(trace.kind, trace.name) };
  });
  const watched = new Set<object>(parts);
  const only = options.only === true;

  const admissions = meter.createCounter('sluice.admissions', { description: 'Calls admitted' });
  const rejections = meter.createCounter('sluice.rejections', {
    description: 'Calls refused at once or that left the queue, by reason',
  });
  const wait = meter.createHistogram('sluice.wait.duration', {
    description: 'Time a call waited for admission (0 when admitted at once), by outcome',
    unit: 's',
  });
  const hold = meter.createHistogram('sluice.hold.duration', { description: 'Time a lease was held', unit: 's' });

  const onMessage = (raw: unknown) => {
    const message = raw as AdmissionMessage;
    if (only && !watched.has(message.part)) return;
    const attributes = attributesOf(message.kind, message.name);
    switch (message.type) {
      case 'admit':
        admissions.add(1, attributes);
        if (message.wait !== undefined)
          wait.record(message.wait / 1000, { ...attributes, 'sluice.outcome': 'admitted' });
        break;
      case 'reject':
        rejections.add(1, { ...attributes, 'sluice.rejection.reason': message.reason });
        if (message.wait !== undefined)
          wait.record(message.wait / 1000, { ...attributes, 'sluice.outcome': message.reason });
        break;
      case 'release':
        if (message.hold !== undefined) hold.record(message.hold / 1000, attributes);
        break;
      default:
        break;
    }
  };
  subscribe(ADMISSION_CHANNEL, onMessage);

  const running = meter.createObservableGauge('sluice.running', { description: 'Calls admitted and not yet done' });
  const waiting = meter.createObservableGauge('sluice.waiting', { description: 'Calls waiting for admission' });
  const limit = meter.createObservableGauge('sluice.limit', { description: 'Capacity or limit in force' });
  const observables: Observable[] = [running, waiting, limit];
  const observe = (result: BatchObservableResult) => {
    for (const { part, attributes } of described) {
      const stats = part.stats() as { running: number; waiting: number; capacity?: number; limit?: number };
      result.observe(running, stats.running, attributes);
      result.observe(waiting, stats.waiting, attributes);
      const bound = stats.capacity ?? stats.limit;
      if (typeof bound === 'number' && Number.isFinite(bound)) result.observe(limit, bound, attributes);
    }
  };
  if (described.length > 0) meter.addBatchObservableCallback(observe, observables);

  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      unsubscribe(ADMISSION_CHANNEL, onMessage);
      if (described.length > 0) meter.removeBatchObservableCallback(observe, observables);
    },
  };
}
