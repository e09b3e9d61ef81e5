import { IpmiFenceDriver, ipmiArgs, parseIpmiTargets } from './ipmi-fence.driver';

const target = { address: '10.0.0.21', user: 'admin', passwordEnv: 'NUBO_IPMI_PASSWORD_H1' };

describe('parseIpmiTargets', () => {
  it('reads a table of host id -> BMC', () => {
    expect(parseIpmiTargets(JSON.stringify({ h1: target }))).toEqual({ h1: target });
  });

  it.each([
    ['not an object', '[]', /object/],
    ['a bad address', JSON.stringify({ h1: { ...target, address: 'a b' } }), /h1.address/],
    ['a bad user', JSON.stringify({ h1: { ...target, user: '' } }), /h1.user/],
    ['a password inline instead of a variable name', JSON.stringify({ h1: { ...target, passwordEnv: 'hunter2!' } }), /h1.passwordEnv/],
  ])('refuses %s', (_what, json, message) => {
    expect(() => parseIpmiTargets(json)).toThrow(message);
  });
});

describe(IpmiFenceDriver.name, () => {
  const env = { NUBO_IPMI_PASSWORD_H1: 's3cret' };

  it('powers the chassis off and confirms it, the password only in the environment', async () => {
    const calls: Array<{ args: string[]; password: string }> = [];
    const statuses = ['Chassis Power is on', 'Chassis Power is off'];
    const runner = async (args: string[], password: string) => {
      calls.push({ args, password });
      return args.at(-1) === 'status' ? statuses.shift()! : 'Chassis Power Control: Down/Off';
    };
    const result = await new IpmiFenceDriver({ h1: target }, { runner, env }).fence('h1');
    expect(result).toEqual({ confirmed: true, detail: 'BMC 10.0.0.21: chassis power is off' });
    expect(calls.map((c) => c.args)).toEqual([ipmiArgs(target, 'off'), ipmiArgs(target, 'status'), ipmiArgs(target, 'status')]);
    expect(calls.every((c) => c.password === 's3cret' && !c.args.includes('s3cret'))).toBe(true);
    expect(ipmiArgs(target, 'off')).toEqual(['-I', 'lanplus', '-H', '10.0.0.21', '-U', 'admin', '-E', 'chassis', 'power', 'off']);
  });

  it('does not confirm an unknown host, a missing password, a failing BMC or one that stays on', async () => {
    const failing = async () => {
      throw new Error('Error: Unable to establish IPMI v2 / RMCP+ session\nmore');
    };
    const stuck = async (args: string[]) => (args.at(-1) === 'status' ? 'Chassis Power is on' : '');
    expect(await new IpmiFenceDriver({ h1: target }, { env }).fence('h2')).toEqual({ confirmed: false, detail: 'no BMC configured for h2' });
    expect((await new IpmiFenceDriver({ h1: target }, { env: {} }).fence('h1')).confirmed).toBe(false);
    const failed = await new IpmiFenceDriver({ h1: target }, { runner: failing, env }).fence('h1');
    expect(failed).toEqual({ confirmed: false, detail: 'BMC 10.0.0.21: Error: Unable to establish IPMI v2 / RMCP+ session' });
    const on = await new IpmiFenceDriver({ h1: target }, { runner: stuck, env, confirmTimeoutMs: 0 }).fence('h1');
    expect(on).toEqual({ confirmed: false, detail: 'BMC 10.0.0.21: power still Chassis Power is on' });
  });
});
