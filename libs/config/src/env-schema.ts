/**
 * Each app declares its environment as a schema and reads it once at boot: every problem is
 * reported together, and the process exits before it opens a single connection.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

interface Field<T> {
  parse(raw: string | undefined, name: string): T;
}

type Parser<T> = (raw: string, name: string) => T;

function field<T>(parser: Parser<T>, options: { default?: T; optional?: boolean }): Field<T> {
  return {
    parse(raw, name) {
      if (raw === undefined || raw === '') {
        if (options.default !== undefined) return options.default;
        if (options.optional) return undefined as T;
        throw new Error(`${name} is required`);
      }
      return parser(raw, name);
    },
  };
}

export const env = {
  string: (o: { default?: string; pattern?: RegExp } = {}) =>
    field<string>((raw, name) => {
      if (o.pattern && !o.pattern.test(raw)) throw new Error(`${name} must match ${o.pattern}`);
      return raw;
    }, o),
  optionalString: () => field<string | undefined>((raw) => raw, { optional: true }),
  int: (o: { default?: number; min?: number; max?: number } = {}) =>
    field<number>((raw, name) => {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${raw}"`);
      if (o.min !== undefined && n < o.min) throw new Error(`${name} must be >= ${o.min}`);
      if (o.max !== undefined && n > o.max) throw new Error(`${name} must be <= ${o.max}`);
      return n;
    }, o),
  port: (o: { default?: number } = {}) =>
    field<number>((raw, name) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a TCP port, got "${raw}"`);
      return n;
    }, o),
  url: (o: { default?: string; protocols: string[] }) =>
    field<string>((raw, name) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new Error(`${name} must be a URL`);
      }
      if (!o.protocols.includes(url.protocol)) {
        throw new Error(`${name} must use ${o.protocols.join(' or ')}, got ${url.protocol}`);
      }
      return raw;
    }, o),
  oneOf: <T extends string>(values: readonly T[], o: { default?: T } = {}) =>
    field<T>((raw, name) => {
      if (!values.includes(raw as T)) throw new Error(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    }, o),
  bool: (o: { default?: boolean } = {}) =>
    field<boolean>((raw, name) => {
      if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
      if (['0', 'false', 'no', 'off'].includes(raw)) return false;
      throw new Error(`${name} must be a boolean`);
    }, o),
};

export type Schema = Record<string, Field<unknown>>;
export type ConfigOf<S extends Schema> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export function loadConfig<S extends Schema>(schema: S, source: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    try {
      out[name] = spec.parse(source[name], name);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** Config loading for main.ts: print the problems and exit 78 (EX_CONFIG) instead of a stack trace. */
export function loadConfigOrExit<S extends Schema>(schema: S, app: string): ConfigOf<S> {
  try {
    return loadConfig(schema);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${app}: ${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}
