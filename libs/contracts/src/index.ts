export * from './errors';
export * from './rpc';
export * from './subjects';
export * from './compute.contract';
export * from './host.contract';
export * from './jobs.contract';
export * from './health.contract';
