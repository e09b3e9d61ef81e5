export * from './data-source';
export * from './identity/identity.entities';
export * from './compute/compute.entities';
export * from './network/network.entities';
export * from './image/image.entities';
export * from './compute/instance-actions';
export * from './compute/tenant-resources.entities';
export * from './migrate-locked';
