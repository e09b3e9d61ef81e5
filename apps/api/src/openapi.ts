/**
 * The OpenAPI document of the whole public API, served at /openapi.json with Swagger UI at /docs.
 * Paths come from the controllers; tags, security and the main request bodies are added here so
 * the controllers stay free of decorator noise.
 */
import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

const TAGS: Array<[string, string]> = [
  ['/identity', 'Identity (Keystone v3)'],
  ['/compute', 'Compute (Nova v2.1)'],
  ['/network', 'Network (Neutron v2.0)'],
  ['/image', 'Image (Glance v2)'],
  ['/nubo', 'Nubo'],
  ['/healthz', 'Health'],
];

const PUBLIC = [/^\/identity\/?$/, /^\/identity\/v3\/?$/, /^\/identity\/v3\/auth\/tokens$/, /^\/compute\/?$/, /^\/compute\/v2\.1\/?$/,
  /^\/network\/?$/, /^\/image\/?$/, /^\/healthz$/];

const BODIES: Record<string, Record<string, unknown>> = {
  'post /identity/v3/auth/tokens': {
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'secret' } } },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } },
    },
  },
  'post /compute/v2.1/servers': { server: { name: 'vm-1', flavorRef: '1', imageRef: '70a599e0-31e7-49b7-b260-868f441e862b' } },
  'post /compute/v2.1/servers/{id}/action': { 'os-stop': null },
  'put /compute/v2.1/servers/{id}': { server: { name: 'new-name' } },
};

export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Nubo API')
    .setDescription(
      'OpenStack-compatible API (Keystone v3, Nova v2.1, Neutron v2.0, Glance v2 subsets) and Nubo\'s own /nubo/v1. ' +
        'Get a token with POST /identity/v3/auth/tokens and send it as X-Auth-Token. See docs/openstack-api.md for coverage.',
    )
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Auth-Token' }, 'token')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  for (const [path, item] of Object.entries(document.paths)) {
    const tag = TAGS.find(([prefix]) => path.startsWith(prefix))?.[1] ?? 'Other';
    const isPublic = PUBLIC.some((re) => re.test(path));
    for (const [method, op] of Object.entries(item) as Array<[string, Record<string, any>]>) {
      op.tags = [tag];
      if (!isPublic) op.security = [{ token: [] }];
      const example = BODIES[`${method} ${path}`];
      if (example) op.requestBody = { required: true, content: { 'application/json': { example } } };
    }
  }
  return document;
}

export function serveOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApi(app), { jsonDocumentUrl: 'openapi.json', raw: ['json'] });
}
