import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app, so tests can build several apps in one process. */
export const createMetrics = () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'drover_api_' });
  return {
    registry,
    httpRequests: new Histogram({
      name: 'drover_api_http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    runsStarted: new Counter({
      name: 'drover_runs_started_total',
      help: 'Runs started through the API, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
  };
};

export type Metrics = ReturnType<typeof createMetrics>;
