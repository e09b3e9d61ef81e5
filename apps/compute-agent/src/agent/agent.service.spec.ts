import { Logger } from '@nestjs/common';
import { PowerState, ValidationError } from '@nubo/contracts';
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
    it('serves the four operations on this host subjects', () => {
      const handlers = new Map<string, unknown>();
      const registrar = { handle: (subject: string, _c: unknown, h: unknown) => handlers.set(subject, h) };
      const served = service.register(registrar as unknown as RpcRegistrar);
      expect(served).toEqual(['agent.h1.server.spawn', 'agent.h1.server.destroy', 'agent.h1.server.status', 'agent.h1.server.list']);
      expect([...handlers.keys()]).toEqual(served);
    });
  });

  describe('deadline', () => {
    it.each([
      ['spawn', () => service.spawn({ opId: 'op1', deadline: Date.now() - 1, spec }, ctx)],
      ['destroy', () => service.destroy({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['status', () => service.status({ opId: 'op1', deadline: Date.now() - 1, serverId: id }, ctx)],
      ['list', () => service.list({ opId: 'op1', deadline: Date.now() - 1 }, ctx)],
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

  describe('destroy', () => {
    it('answers destroyed=false when there is nothing to destroy', async () => {
      await expect(service.destroy({ opId: 'op1', deadline: later(), serverId: id }, ctx)).resolves.toEqual({
        serverId: id,
        destroyed: false,
      });
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
