export * from './client';
export * from './errors';
export * from './message-types';
export * from './pacer';
export * from './retry';
export * from './schemas';
