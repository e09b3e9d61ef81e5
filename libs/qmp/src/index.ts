export * from './qmp-client';
export * from './qmp-errors';
export * from './qmp-messages';
