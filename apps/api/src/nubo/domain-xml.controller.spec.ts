/**
 * The two routes over real HTTP (Nest + express on a loopback port), with fake services: routing of
 * the literal `servers:import`, content types, the body cap, and what reaches Nova's create path.
 */
import { INestApplication, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { NestFactory } from '@nestjs/core';
import { NotFoundError } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import type { NextFunction, Request, Response } from 'express';
import { OpenStackExceptionFilter } from '../common/openstack-exception.filter';
import { FlavorsService } from '../compute/flavors/flavors.service';
import { CreateServerRequest, ServersService } from '../compute/servers.service';
import { API_CONFIG } from '../config';
import { DomainXmlController } from './domain-xml.controller';
import { domainXml } from './domain-xml';
import { FIRMWARE_ONLY, IMAGE, IMAGE_BACKED } from './domain-xml.fixtures';

const NEW_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const FLAVORS = [
  { id: 'tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
  { id: 'small', vcpus: 2, ramMb: 2048, diskGb: 20 },
];

describe(DomainXmlController.name, () => {
  let app: INestApplication;
  let base: string;
  const created: CreateServerRequest[] = [];
  let imageMissing = false;

  const servers = {
    get: async (id: string) => {
      const s = [IMAGE_BACKED, FIRMWARE_ONLY].find((x) => x.id === id);
      if (!s) throw new NotFoundError(`Instance ${id} could not be found.`);
      return s;
    },
    parseCreate: (body: unknown) => ServersService.prototype.parseCreate.call(null, body),
    create: async (request: CreateServerRequest) => {
      created.push(request);
      return { id: NEW_ID };
    },
  };
  const rpc = {
    call: async () => {
      if (imageMissing) throw new NotFoundError('gone');
      return IMAGE;
    },
  };

  beforeAll(async () => {
    @Module({
      controllers: [DomainXmlController],
      providers: [
        { provide: ServersService, useValue: servers },
        { provide: FlavorsService, useValue: { list: async () => FLAVORS } },
        { provide: RpcClient, useValue: rpc },
        { provide: API_CONFIG, useValue: { NUBO_PUBLIC_URL: 'http://cloud.test' } },
        { provide: APP_FILTER, useClass: OpenStackExceptionFilter },
      ],
    })
    class TestModule {}
    app = await NestFactory.create(TestModule, { logger: false, bodyParser: false });
    app.use((req: Request & { auth?: unknown; requestId?: string }, _res: Response, next: NextFunction) => {
      req.auth = { userId: 'u', projectId: 'p', isAdmin: false, roles: [] };
      req.requestId = 'req-test';
      next();
    });
    await app.listen(0, '127.0.0.1');
    base = `${await app.getUrl()}/nubo/v1`.replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(() => {
    created.length = 0;
    imageMissing = false;
  });

  const importXml = (body: string, type = 'application/xml') =>
    fetch(`${base}/servers:import`, { method: 'POST', headers: { 'content-type': type }, body });

  describe('GET servers/{id}/domain.xml', () => {
    it('answers the domain XML as application/xml', async () => {
      const res = await fetch(`${base}/servers/${IMAGE_BACKED.id}/domain.xml`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
      expect(await res.text()).toBe(domainXml(IMAGE_BACKED, IMAGE));
    });

    it('leaves the backing store out when the image is gone', async () => {
      imageMissing = true;
      const res = await fetch(`${base}/servers/${IMAGE_BACKED.id}/domain.xml`);
      expect(await res.text()).toBe(domainXml(IMAGE_BACKED, null));
    });

    it('answers 404 in Nova shape for an unknown server', async () => {
      const res = await fetch(`${base}/servers/${NEW_ID}/domain.xml`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ itemNotFound: { code: 404, message: `Instance ${NEW_ID} could not be found.` } });
    });
  });

  describe('POST servers:import', () => {
    it('routes the literal colon path and creates through parseCreate/create', async () => {
      const res = await importXml(domainXml(IMAGE_BACKED, IMAGE));
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({
        server: {
          id: NEW_ID,
          links: [
            { rel: 'self', href: `http://cloud.test/compute/v2.1/servers/${NEW_ID}` },
            { rel: 'bookmark', href: `http://cloud.test/compute/servers/${NEW_ID}` },
          ],
          'OS-DCF:diskConfig': 'MANUAL',
          security_groups: [{ name: 'default' }],
        },
      });
      expect(created).toEqual([{ name: 'web-1', flavorRef: 'small', imageRef: IMAGE.id, metadata: {}, keyName: undefined, groupId: undefined }]);
    });

    it('accepts text/xml and creates a firmware-only server from the smallest flavor', async () => {
      const res = await importXml("<domain type='kvm'><name>fw</name><memory unit='MiB'>256</memory></domain>", 'text/xml; charset=utf-8');
      expect(res.status).toBe(202);
      expect(created).toEqual([expect.objectContaining({ name: 'fw', flavorRef: 'tiny', imageRef: undefined })]);
    });

    it.each([
      ['JSON', '{"server": {}}', 'application/json', 415],
      ['no content type', '<domain/>', '', 415],
      ['a DOCTYPE', '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name><memory>1</memory></domain>', 'application/xml', 400],
      ['no flavor big enough', '<domain><name>a</name><memory unit="GiB">64</memory></domain>', 'application/xml', 400],
      ['a body over 64 KiB', `<domain><name>a</name><memory>1</memory><description>${'x'.repeat(70_000)}</description></domain>`, 'application/xml', 413],
    ])('refuses %s and creates nothing', async (_what, body, type, status) => {
      const res = await importXml(body, type);
      expect(res.status).toBe(status);
      expect(Object.keys((await res.json()) as object)).toEqual([{ 400: 'badRequest', 413: 'overLimit', 415: 'badMediaType' }[status]]);
      expect(created).toEqual([]);
    });
  });
});
