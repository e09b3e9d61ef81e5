import { Logger } from '@nestjs/common';
import { BalloonSetRequest, ConflictError, NotFoundError, PowerState, ValidationError } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { FakeDriver } from '../hypervisor/fake/fake.driver';
import { AgentService, RpcRegistrar } from './agent.service';

const id = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };
const ctx: HandlerContext = { requestId: 'req-test', subject: 'agent.h1.x' };
const later = () => Date.now() + 60_000;

describe(AgentService.name, () => {
  let driver: FakeDriver;
  let service: AgentService;

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(() => {
    driver = new FakeDriver({ delayMs: 20 });
    service = new AgentService({ hostId: 'h1', driver });
  });

  describe('register', () => {
    it('serves every agent operation on this host subjects', () => {
      const handlers = new Map<string, unknown>();
      const registrar = { handle: (subject: string, _c: unknown, h: unknown) => handlers.set(subject, h) };
      const served = service.register(registrar as unknown as RpcRegistrar);
      const ops = ['spawn', 'destroy', 'status', 'list', 'stop', 'start', 'reboot', 'pause', 'unpause', 'suspend', 'resume', 'console-log', 'snapshot', 'balloon-info', 'balloon-set',
        'rebuild', 'resize', 'confirm-resize', 'revert-resize', 'interface-attach', 'interface-detach',
        'migration-prepare', 'migration-start', 'migration-status', 'migration-adjust', 'migration-cancel', 'migration-finish',
        'migration-abort-destination', 'migration-cleanup-source', 'migration-dirty-rate',
        'cold-migration-disks', 'cold-migration-prepare', 'cold-migration-transfer', 'cold-migration-finish', 'cold-migration-abort'];
      expect(served).toEqual(ops.map((op) => `agent.h1.server.${op}`));
      expect([...handlers.keys()]).toEqual(served);
    });

    it('routes each power subject to its driver operation', async () => {
      const handlers = new Map<string, (req: unknown, ctx: HandlerContext) => Promise<unknown>>();
      service.register({ handle: (subject: string, _c: unknown, h: never) => handlers.set(subject, h) } as unknown as RpcRegistrar);
      const call = (op: string, body: object) => handlers.get(`agent.h1.server.${op}`)!({ opId: op, deadline: later(), ...body }, ctx);
      await call('spawn', { spec });
      await call('pause', { serverId: id });
      await call('unpause', { serverId: id });
      await call('reboot', { serverId: id, type: 'HARD', graceSeconds: 0 });
      await call('stop', { serverId: id, graceSeconds: 0 });
      await call('start', { serverId: id, spec });
      await call('suspend', { serverId: id });
      await expect(call('resume', { serverId: id, spec })).resolves.toMatchObject({ powerState: PowerState.Running });
      const ops = driver.calls.filter((c) => c.endsWith(':start')).map((c) => c.split(':')[0]);
      expect(ops).toEqual(['spawn', 'pause', 'unpause', 'reboot', 'stop', 'start', 'suspend', 'resume']);
    });
  });

  describe('deadline', () => {
    it.each([
      ['spawn', () => service.spawn({ opId: 'op1', deadline: Date.now() - 1, spec }, ctx)],
      ['destroy', () => service.destroy({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['status', () => service.status({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['list', () => service.list({ opId: 'op1', deadline: Date.now() - 1 }, ctx)],
      ['stop', () => service.stop({ opId: 'op1', deadline: Date.now() - 1, serverId: id, graceSeconds: 0 }, ctx)],
      ['start', () => service.start({ opId: 'op1', deadline: Date.now() - 1, serverId: id, spec }, ctx)],
      ['reboot', () => service.reboot({ opId: 'op1', deadline: Date.now() - 1, serverId: id, type: 'HARD', graceSeconds: 0 }, ctx)],
      ['pause', () => service.pause({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['unpause', () => service.unpause({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['suspend', () => service.suspend({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['resume', () => service.resume({ opId: 'op1', deadline: Date.now() - 1, serverId: id, spec }, ctx)],
    ])('refuses a stale %s and leaves the driver alone', async (_op, call) => {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ message: 'stale command: deadline passed', details: { field: 'deadline' } });
      expect(driver.calls).toEqual([]);
    });

    it('refuses a command without a deadline', async () => {
      const request = { opId: 'op1', spec } as unknown as Parameters<AgentService['spawn']>[0];
      await expect(service.spawn(request, ctx)).rejects.toMatchObject({ details: { field: 'deadline' } });
    });

    it('refuses a command whose deadline passed while it waited for the server', async () => {
      const slow = new FakeDriver({ delayMs: 80 });
      const svc = new AgentService({ hostId: 'h1', driver: slow });
      const spawn = svc.spawn({ opId: 'op1', deadline: later(), spec }, ctx);
      const destroy = svc.destroy({ opId: 'op2', deadline: Date.now() + 20, serverId: id }, ctx);
      await expect(spawn).resolves.toMatchObject({ powerState: PowerState.Running });
      await expect(destroy).rejects.toThrow('stale command: deadline passed');
      expect(slow.calls).toEqual([`spawn:${id}:start`, `spawn:${id}:end`]);
    });
  });

  describe('serialization', () => {
    it('never interleaves a replayed spawn and a destroy of one server', async () => {
      await Promise.all([
        service.spawn({ opId: 'op1', deadline: later(), spec }, ctx),
        service.destroy({ opId: 'op2', deadline: later(), serverId: id }, ctx),
        service.spawn({ opId: 'op1', deadline: later(), spec }, ctx),
      ]);
      expect(driver.calls).toEqual([
        `spawn:${id}:start`,
        `spawn:${id}:end`,
        `destroy:${id}:start`,
        `destroy:${id}:end`,
        `spawn:${id}:start`,
        `spawn:${id}:end`,
      ]);
      expect((await driver.list()).map((i) => i.powerState)).toEqual([PowerState.Running]);
    });

    it('runs operations on different servers concurrently', async () => {
      const other = '9b2f4a7e-3c1d-4e5f-8a9b-0c1d2e3f4a5b';
      await Promise.all([
        service.spawn({ opId: 'op1', deadline: later(), spec }, ctx),
        service.spawn({ opId: 'op2', deadline: later(), spec: { ...spec, serverId: other } }, ctx),
      ]);
      expect(driver.calls.slice(0, 2)).toEqual([`spawn:${id}:start`, `spawn:${other}:start`]);
    });

    it('answers status while a spawn of the same server is in flight', async () => {
      const spawn = service.spawn({ opId: 'op1', deadline: later(), spec }, ctx);
      const status = await service.status({ opId: 'op2', deadline: later(), serverId: id }, ctx);
      expect(status.powerState).toBe(PowerState.NoState);
      await spawn;
    });
  });

  describe('power operations', () => {
    const fresh = <T extends object>(extra: T) => ({ opId: 'op1', deadline: later(), serverId: id, ...extra });

    it('serializes a stop behind a spawn of the same server and a start behind the stop', async () => {
      await Promise.all([
        service.spawn({ opId: 'op1', deadline: later(), spec }, ctx),
        service.stop(fresh({ graceSeconds: 0 }), ctx),
        service.start(fresh({ spec }), ctx),
      ]);
      expect(driver.calls).toEqual([
        `spawn:${id}:start`, `spawn:${id}:end`, `stop:${id}:start`, `stop:${id}:end`, `start:${id}:start`, `start:${id}:end`,
      ]);
    });

    it.each([
      ['stop with a negative grace', () => service.stop(fresh({ graceSeconds: -1 }) as never, ctx), 'graceSeconds'],
      ['stop without a grace', () => service.stop(fresh({}) as never, ctx), 'graceSeconds'],
      ['reboot of an unknown type', () => service.reboot(fresh({ type: 'GENTLY', graceSeconds: 0 }) as never, ctx), 'type'],
      ['reboot with a grace over the RPC timeout', () => service.reboot(fresh({ type: 'SOFT', graceSeconds: 301 }) as never, ctx), 'graceSeconds'],
      ['pause of a server id that is not a UUID', () => service.pause(fresh({ serverId: '../x' }), ctx), 'serverId'],
      ['start of a spec for another server', () => service.start(fresh({ spec: { ...spec, serverId: '9b2f4a7e-3c1d-4e5f-8a9b-0c1d2e3f4a5b' } }) as never, ctx), 'serverId'],
      ['resume of a bad spec', () => service.resume(fresh({ spec: { ...spec, vcpus: 0 } }) as never, ctx), 'spec.vcpus'],
    ])('rejects %s naming the field, before touching the driver', async (_what, call, field) => {
      await expect(call()).rejects.toMatchObject({ details: { field } });
      await expect(call()).rejects.toBeInstanceOf(ValidationError);
      expect(driver.calls).toEqual([]);
    });

    it('passes the driver state conflicts through', async () => {
      await service.spawn({ opId: 'op1', deadline: later(), spec }, ctx);
      await service.stop(fresh({ graceSeconds: 0 }), ctx);
      await expect(service.pause(fresh({}), ctx)).rejects.toBeInstanceOf(ConflictError);
    });
  });

  describe('destroy', () => {
    it('answers destroyed=false when there is nothing to destroy', async () => {
      await expect(service.destroy({ opId: 'op1', deadline: later(), serverId: id }, ctx)).resolves.toEqual({
        serverId: id,
        destroyed: false,
      });
    });
  });

  describe('consoleLog', () => {
    const request = (extra: object = {}) => ({ opId: 'op1', deadline: later(), serverId: id, ...extra });

    it('answers the tail of the log, while a long operation on the server runs', async () => {
      await service.spawn({ opId: 'op0', deadline: later(), spec }, ctx);
      driver.print(id, 'one\ntwo\nNUBO-GUEST: booted\n');
      const stop = service.stop({ ...request(), graceSeconds: 0 }, ctx);
      await expect(service.consoleLog(request({ lines: 1 }), ctx)).resolves.toEqual({ output: 'NUBO-GUEST: booted\n' });
      await expect(service.consoleLog(request({ lines: -1 }), ctx)).resolves.toEqual({ output: 'one\ntwo\nNUBO-GUEST: booted\n' });
      await stop;
    });

    it.each([
      [{ lines: -2 }, 'lines'],
      [{ lines: 1.5 }, 'lines'],
      [{ serverId: 'x' }, 'serverId'],
    ])('refuses %j naming %s', async (extra, field) => {
      await expect(service.consoleLog(request(extra), ctx)).rejects.toMatchObject({ details: { field } });
    });
  });

  describe('snapshot', () => {
    const imageId = '0f9a4c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b';
    const upload = { url: 'http://127.0.0.1:8792/v2/images/x/file', headers: { 'x-nubo-caller-project': 'p1' } };
    const withImage = { ...spec, diskGb: 1, image: { id: 'img', sha256: 'a'.repeat(64), sizeBytes: 1, diskFormat: 'qcow2' as const, url: 'http://127.0.0.1/i' } };
    const request = (extra: object = {}) => ({ opId: 'op1', deadline: later(), serverId: id, imageId, upload, ...extra });

    it('runs behind the server operations before it and answers what was uploaded', async () => {
      const [, reply] = await Promise.all([
        service.spawn({ opId: 'op0', deadline: later(), spec: withImage }, ctx),
        service.snapshot(request(), ctx),
      ]);
      expect(reply).toMatchObject({ serverId: id, imageId, sizeBytes: 0 });
      expect(driver.calls).toEqual([`spawn:${id}:start`, `spawn:${id}:end`, `snapshot:${id}:start`, `snapshot:${id}:end`]);
      expect(driver.snapshots).toEqual([{ serverId: id, imageId, upload }]);
    });

    it('passes a server without a disk of its own as a conflict', async () => {
      await service.spawn({ opId: 'op0', deadline: later(), spec }, ctx);
      await expect(service.snapshot(request(), ctx)).rejects.toBeInstanceOf(ConflictError);
    });

    it.each([
      [{ imageId: 'not-a-uuid' }, 'imageId'],
      [{ upload: { url: 'file:///etc/passwd', headers: {} } }, 'upload.url'],
      [{ upload: { url: upload.url, headers: { 'x-a': 'b\r\nhost: evil' } } }, 'upload.headers'],
      [{ upload: { url: upload.url } }, 'upload.headers'],
    ])('refuses %j naming %s, before touching the driver', async (extra, field) => {
      await expect(service.snapshot(request(extra), ctx)).rejects.toMatchObject({ details: { field } });
      expect(driver.calls).toEqual([]);
    });
  });

  describe('balloon', () => {
    const MiB = 2 ** 20;
    // The set requests carry targetBytes in `extra` (some of them wrong on purpose).
    const request = (extra: object = {}) => ({ opId: 'op1', deadline: later(), serverId: id, ...extra }) as BalloonSetRequest;
    const boot = () => service.spawn({ opId: 'op0', deadline: later(), spec: { ...spec, ramMb: 512 } }, ctx);

    it('answers the full RAM before any target, and the target once set', async () => {
      await boot();
      await expect(service.balloonInfo(request(), ctx)).resolves.toEqual({ serverId: id, actualBytes: 512 * MiB, maxBytes: 512 * MiB });
      await expect(service.balloonSet(request({ targetBytes: 256 * MiB }), ctx)).resolves.toEqual({
        serverId: id, actualBytes: 256 * MiB, maxBytes: 512 * MiB, targetBytes: 256 * MiB,
      });
      await expect(service.balloonInfo(request(), ctx)).resolves.toMatchObject({ actualBytes: 256 * MiB, targetBytes: 256 * MiB });
    });

    it.each([
      ['below a quarter of the RAM', 127 * MiB],
      ['above the RAM', 513 * MiB],
      ['not an integer', 200 * MiB + 0.5],
      ['not a number', '268435456'],
    ])('refuses a target %s, naming targetBytes', async (_what, targetBytes) => {
      await boot();
      await expect(service.balloonSet(request({ targetBytes }), ctx)).rejects.toMatchObject({ details: { field: 'targetBytes' } });
      await expect(service.balloonInfo(request(), ctx)).resolves.not.toHaveProperty('targetBytes');
    });

    it('refuses to set a paused or stopped server (409), and answers info while paused', async () => {
      await boot();
      await service.pause(request(), ctx);
      await expect(service.balloonSet(request({ targetBytes: 256 * MiB }), ctx)).rejects.toBeInstanceOf(ConflictError);
      await expect(service.balloonInfo(request(), ctx)).resolves.toMatchObject({ actualBytes: 512 * MiB });
      await service.stop({ ...request(), graceSeconds: 0 }, ctx);
      await expect(service.balloonInfo(request(), ctx)).rejects.toBeInstanceOf(ConflictError);
    });

    it('forgets the target when the process is replaced (a new QEMU starts with no balloon)', async () => {
      await boot();
      await service.balloonSet(request({ targetBytes: 256 * MiB }), ctx);
      await service.reboot({ ...request(), type: 'SOFT', graceSeconds: 0 }, ctx);
      await expect(service.balloonInfo(request(), ctx)).resolves.toEqual({ serverId: id, actualBytes: 512 * MiB, maxBytes: 512 * MiB });
    });

    it('answers NotFound for a server the host does not have', async () => {
      await expect(service.balloonInfo(request(), ctx)).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('spawn', () => {
    it('rejects an invalid spec before touching the driver', async () => {
      const bad = { ...spec, serverId: '../../etc' };
      await expect(service.spawn({ opId: 'op1', deadline: later(), spec: bad }, ctx)).rejects.toBeInstanceOf(ValidationError);
      expect(driver.calls).toEqual([]);
    });
  });
});
