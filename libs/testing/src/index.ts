export * from './fake-qmp-server';
export * from './validation-field';
export * from './qemu-processes';
export * from './private-database';
