import { ConfigError } from '@nubo/config';
import { loadAgentConfig } from './config';
import { lookupUser } from './hypervisor/qemu/qemu-user';

const base = { NUBO_NATS_URL: 'nats://127.0.0.1:4222', NUBO_HOST_ID: 'h1', NUBO_AGENT_STATE_DIR: '/var/lib/nubo/h1' };

function problems(env: Record<string, string>): string {
  try {
    loadAgentConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join('\n');
    throw error;
  }
  return '';
}

describe('loadAgentConfig', () => {
  it('applies defaults, with capacity from the host', () => {
    const config = loadAgentConfig(base);
    expect(config).toMatchObject({
      NUBO_HOST_ID: 'h1',
      NUBO_AGENT_ACCEL: 'auto',
      NUBO_AGENT_DRIVER: 'qemu',
      NUBO_AGENT_HEARTBEAT_MS: 1000,
      NUBO_AGENT_NETNS: undefined,
      NUBO_AGENT_HEALTH_PORT: undefined,
      NUBO_AGENT_IMAGE_TTL_S: 86_400,
      NUBO_AGENT_IMAGE_SWEEP_S: 600,
      NUBO_AGENT_KSM: 'off',
    });
    expect(config.capacity.vcpus).toBeGreaterThan(0);
    expect(config.capacity.ramMb).toBeGreaterThan(0);
    expect(config.capacity.diskGb).toBeGreaterThanOrEqual(0);
  });

  it('takes capacity from the environment when set', () => {
    const config = loadAgentConfig({ ...base, NUBO_AGENT_VCPUS: '4', NUBO_AGENT_RAM_MB: '8192', NUBO_AGENT_DISK_GB: '50' });
    expect(config.capacity).toEqual({ vcpus: 4, ramMb: 8192, diskGb: 50 });
  });

  it.each([
    ['', {}, ''],
    ['physnet1:eth1, ext:veth-ext', { physnet1: 'eth1', ext: 'veth-ext' }, ''],
    ['physnet1', {}, 'NUBO_AGENT_PHYSICAL_INTERFACES: "physnet1" is not <physical network>:<interface>'],
    ['a:b:c', {}, 'NUBO_AGENT_PHYSICAL_INTERFACES: "a:b:c" is not <physical network>:<interface>'],
    ['p:this-name-is-too-long', {}, 'NUBO_AGENT_PHYSICAL_INTERFACES: "p:this-name-is-too-long" is not <physical network>:<interface>'],
    ['p:eth1,p:eth2', {}, 'NUBO_AGENT_PHYSICAL_INTERFACES: p is mapped twice'],
  ])('maps physical networks to interfaces: %j', (raw, mappings, problem) => {
    expect(problems({ ...base, NUBO_AGENT_PHYSICAL_INTERFACES: raw })).toBe(problem);
    if (!problem) expect(loadAgentConfig({ ...base, NUBO_AGENT_PHYSICAL_INTERFACES: raw }).physicalInterfaces).toEqual(mappings);
  });

  it('refuses an underlay device that is not an interface name', () => {
    expect(problems({ ...base, NUBO_AGENT_UNDERLAY_DEVICE: 'eth0; reboot' })).toBe('NUBO_AGENT_UNDERLAY_DEVICE must be an interface name ([A-Za-z0-9_.-], at most 15)');
  });

  it('turns KSM on only when told to', () => {
    expect(loadAgentConfig({ ...base, NUBO_AGENT_KSM: 'on' }).NUBO_AGENT_KSM).toBe('on');
  });

  describe('NUBO_AGENT_QEMU_USER', () => {
    const isRoot = process.getuid?.() === 0;

    it('defaults to nubo-qemu when that user exists and the agent runs as root, else none', () => {
      expect(loadAgentConfig(base).qemuUser).toBe(isRoot && lookupUser('nubo-qemu') ? 'nubo-qemu' : '');
    });

    it('is none when set empty', () => {
      expect(loadAgentConfig({ ...base, NUBO_AGENT_QEMU_USER: '' }).qemuUser).toBe('');
    });

    (isRoot ? it : it.skip)('takes an existing user (as root)', () => {
      expect(loadAgentConfig({ ...base, NUBO_AGENT_QEMU_USER: 'nobody' }).qemuUser).toBe('nobody');
    });

    it.each([
      ['no-such-user-nubo', /NUBO_AGENT_QEMU_USER: QEMU user no-such-user-nubo does not exist/],
      ['Bad Name', /NUBO_AGENT_QEMU_USER must be a user name/],
      ['a,b', /NUBO_AGENT_QEMU_USER must be a user name/],
    ])('rejects %j', (user, message) => {
      expect(problems({ ...base, NUBO_AGENT_QEMU_USER: user })).toMatch(message);
    });
  });

  it('requires a host id and a state dir', () => {
    const text = problems({ NUBO_NATS_URL: base.NUBO_NATS_URL });
    expect(text).toMatch(/NUBO_HOST_ID is required/);
    expect(text).toMatch(/NUBO_AGENT_STATE_DIR is required/);
  });

  it.each([
    [{ NUBO_HOST_ID: 'h1.evil' }, /NUBO_HOST_ID must match/],
    [{ NUBO_AGENT_ACCEL: 'xen' }, /NUBO_AGENT_ACCEL must be one of auto, kvm, tcg/],
    [{ NUBO_AGENT_DRIVER: 'libvirt' }, /NUBO_AGENT_DRIVER must be one of qemu, fake/],
    [{ NUBO_AGENT_HEALTH_PORT: '70000' }, /NUBO_AGENT_HEALTH_PORT must be <= 65535/],
    [{ NUBO_AGENT_STATE_DIR: 'relative/dir' }, /NUBO_AGENT_STATE_DIR must be an absolute path/],
    [{ NUBO_AGENT_STATE_DIR: `/${'x'.repeat(80)}` }, /NUBO_AGENT_STATE_DIR must be at most \d+ bytes/],
    [{ NUBO_AGENT_NETNS: 'ns with space' }, /NUBO_AGENT_NETNS must be a namespace name/],
    [{ NUBO_AGENT_UNDERLAY_IP: '10.77.0.300' }, /NUBO_AGENT_UNDERLAY_IP must be an IPv4 or IPv6 address/],
    [{ NUBO_AGENT_IMAGE_TTL_S: '-1' }, /NUBO_AGENT_IMAGE_TTL_S must be >= 0/],
    [{ NUBO_AGENT_IMAGE_SWEEP_S: '0' }, /NUBO_AGENT_IMAGE_SWEEP_S must be >= 1/],
    [{ NUBO_AGENT_KSM: 'yes' }, /NUBO_AGENT_KSM must be one of on, off/],
  ])('rejects %j', (override, message) => {
    expect(problems({ ...base, ...override })).toMatch(message);
  });
});
