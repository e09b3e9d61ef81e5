import { env, infraSchema, loadConfigOrExit } from '@nubo/config';

export const apiSchema = {
  ...infraSchema,
  NUBO_API_HOST: env.string({ default: '127.0.0.1' }),
  NUBO_API_PORT: env.port({ default: 8080 }),
  /** Base URL written into the service catalog; defaults to http://NUBO_API_HOST:NUBO_API_PORT. */
  NUBO_PUBLIC_URL: env.optionalString(),
  NUBO_REGION: env.string({ default: 'RegionOne', pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  NUBO_TOKEN_TTL_S: env.int({ default: 3600, min: 60 }),
  /** Signs requests to the image store on behalf of callers (shared with image-store and scheduler). */
  NUBO_INTERNAL_SECRET: env.string({ pattern: /^.{32,}$/ }),
  /** The image store's HTTP server, where image uploads and downloads are streamed. */
  NUBO_IMAGE_URL: env.url({ default: 'http://127.0.0.1:8792', protocols: ['http:', 'https:'] }),
};

export type ApiConfig = ReturnType<typeof loadApiConfig>;
export const loadApiConfig = () => loadConfigOrExit(apiSchema, 'api');
export const API_CONFIG = Symbol('API_CONFIG');

export function publicUrl(config: ApiConfig): string {
  return (config.NUBO_PUBLIC_URL ?? `http://${config.NUBO_API_HOST}:${config.NUBO_API_PORT}`).replace(/\/+$/, '');
}
