/**
 * The parts of prom-client krouter uses. Its index also loads the
 * pushgateway (https, zlib) and the cluster aggregator (cluster): loading
 * https alone initialises OpenSSL, ~9 MB of resident memory an agent that
 * never pushes metrics does not need. prom-client has no `exports` map, so
 * its lib files are importable; their types are the index's.
 */
import type client from 'prom-client';
// @ts-expect-error -- an untyped subpath of prom-client (typed below through the package's index)
import RegistryImpl from 'prom-client/lib/registry.js';
// @ts-expect-error -- as above
import CounterImpl from 'prom-client/lib/counter.js';
// @ts-expect-error -- as above
import GaugeImpl from 'prom-client/lib/gauge.js';
// @ts-expect-error -- as above
import HistogramImpl from 'prom-client/lib/histogram.js';
// @ts-expect-error -- as above
import collectDefaultMetricsImpl from 'prom-client/lib/defaultMetrics.js';

export const Registry = RegistryImpl as typeof client.Registry;
export type Registry = client.Registry;
export const Counter = CounterImpl as typeof client.Counter;
export type Counter = client.Counter;
export const Gauge = GaugeImpl as typeof client.Gauge;
export type Gauge = client.Gauge;
export const Histogram = HistogramImpl as typeof client.Histogram;
export type Histogram = client.Histogram;
export const collectDefaultMetrics = collectDefaultMetricsImpl as typeof client.collectDefaultMetrics;
