export * from './nats-options';
export * from './rpc-client';
export * from './rpc-server';
