export * from './fake-qmp-server';
