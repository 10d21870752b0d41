/**
 * metrics: the agent's Prometheus endpoint — the exposition format
 * (exposition.ts), what is measured (collector.ts) and the HTTP server (server.ts).
 */
export {
  agentVersion,
  type CatalogCounts,
  type Collect,
  createCollector,
  type MetricsSources,
  mirrorFamilies,
  processFamilies,
} from './collector.js';
export {
  EXPOSITION_CONTENT_TYPE,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  type MetricFamily,
  type MetricType,
  render,
  type Sample,
} from './exposition.js';
export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from './server.js';
