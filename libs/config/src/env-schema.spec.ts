import { ConfigError, env, loadConfig } from './env-schema';

describe('loadConfig', () => {
  const schema = {
    PORT: env.port({ default: 8080 }),
    URL: env.url({ protocols: ['nats:'] }),
    MODE: env.oneOf(['kvm', 'tcg'] as const, { default: 'tcg' }),
    COUNT: env.int({ min: 1 }),
  };

  it('parses and applies defaults', () => {
    const config = loadConfig(schema, { URL: 'nats://127.0.0.1:4222', COUNT: '3' });
    expect(config).toEqual({ PORT: 8080, URL: 'nats://127.0.0.1:4222', MODE: 'tcg', COUNT: 3 });
  });

  it('reports every problem at once, naming each variable', () => {
    let caught: unknown;
    try {
      loadConfig(schema, { PORT: '70000', URL: 'http://x', MODE: 'xen', COUNT: '0' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/PORT must be a TCP port/);
    expect(problems.join('\n')).toMatch(/URL must use nats:/);
    expect(problems.join('\n')).toMatch(/MODE must be one of kvm, tcg/);
    expect(problems.join('\n')).toMatch(/COUNT must be >= 1/);
  });

  it('names a missing required variable', () => {
    expect(() => loadConfig(schema, { COUNT: '1' })).toThrow(/URL is required/);
  });
});
