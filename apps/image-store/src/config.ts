import { env, infraSchema, loadConfigOrExit } from '@nubo/config';

const { NUBO_REDIS_URL: _redis, ...base } = infraSchema;
export const imageSchema = { ...base, NUBO_HEALTH_PORT: env.port({ default: 8783 }) };
export type ImageConfig = ReturnType<typeof loadImageConfig>;
export const loadImageConfig = () => loadConfigOrExit(imageSchema, 'image-store');
