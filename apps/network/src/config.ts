import { env, infraSchema, loadConfigOrExit } from '@nubo/config';

const { NUBO_REDIS_URL: _redis, ...base } = infraSchema;
export const networkSchema = { ...base, NUBO_HEALTH_PORT: env.port({ default: 8782 }) };
export type NetworkConfig = ReturnType<typeof loadNetworkConfig>;
export const loadNetworkConfig = () => loadConfigOrExit(networkSchema, 'network');
