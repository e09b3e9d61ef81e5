export * from './openstack-client';
