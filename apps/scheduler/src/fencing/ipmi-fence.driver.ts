/**
 * Fencing real hosts through their BMC with ipmitool (Debian's `ipmitool`): `chassis power off`,
 * then `chassis power status` until it says off. The BMC of each host comes from a JSON file
 * (NUBO_FENCE_IPMI_HOSTS): {"<hostId>": {"address": "10.0.0.21", "user": "admin",
 * "passwordEnv": "NUBO_IPMI_PASSWORD_H1"}}; the password travels in the IPMI_PASSWORD environment
 * variable (`-E`), never on the command line (ps would show it) nor in a log.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { FenceDriver, FenceResult } from './fence-driver';

const run = promisify(execFile);

export interface IpmiTarget {
  address: string;
  user: string;
  /** Name of the environment variable that holds the password. */
  passwordEnv: string;
}

export type IpmiRunner = (args: string[], password: string) => Promise<string>;

const defaultRunner: IpmiRunner = async (args, password) =>
  (await run('ipmitool', args, { timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IPMI_PASSWORD: password } })).stdout;

const ADDRESS = /^[A-Za-z0-9.:-]{1,253}$/;
const USER = /^[A-Za-z0-9._@-]{1,64}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;

/** Reads and checks the BMC table; throws naming the bad entry. */
export function parseIpmiTargets(json: string): Record<string, IpmiTarget> {
  const parsed: unknown = JSON.parse(json);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the IPMI hosts file must hold an object of host id -> BMC');
  const out: Record<string, IpmiTarget> = {};
  for (const [hostId, raw] of Object.entries(parsed as Record<string, unknown>)) {
    const t = raw as Partial<IpmiTarget>;
    if (typeof t?.address !== 'string' || !ADDRESS.test(t.address)) throw new Error(`${hostId}.address must be a host name or address`);
    if (typeof t.user !== 'string' || !USER.test(t.user)) throw new Error(`${hostId}.user must be a user name`);
    if (typeof t.passwordEnv !== 'string' || !ENV_NAME.test(t.passwordEnv)) throw new Error(`${hostId}.passwordEnv must name an environment variable`);
    out[hostId] = { address: t.address, user: t.user, passwordEnv: t.passwordEnv };
  }
  return out;
}

/** ipmitool's arguments for one chassis command (lanplus; the password from IPMI_PASSWORD). */
export function ipmiArgs(target: IpmiTarget, command: 'off' | 'status'): string[] {
  return ['-I', 'lanplus', '-H', target.address, '-U', target.user, '-E', 'chassis', 'power', command];
}

export class IpmiFenceDriver implements FenceDriver {
  readonly name = 'ipmi';

  constructor(
    private readonly targets: Record<string, IpmiTarget>,
    private readonly options: { runner?: IpmiRunner; confirmTimeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ) {}

  static fromFile(path: string): IpmiFenceDriver {
    return new IpmiFenceDriver(parseIpmiTargets(readFileSync(path, 'utf8')));
  }

  async fence(hostId: string): Promise<FenceResult> {
    const target = this.targets[hostId];
    if (!target) return { confirmed: false, detail: `no BMC configured for ${hostId}` };
    const password = (this.options.env ?? process.env)[target.passwordEnv];
    if (password === undefined) return { confirmed: false, detail: `${target.passwordEnv} is not set` };
    const runner = this.options.runner ?? defaultRunner;
    try {
      await runner(ipmiArgs(target, 'off'), password);
      const deadline = Date.now() + (this.options.confirmTimeoutMs ?? 30_000);
      for (;;) {
        const status = await runner(ipmiArgs(target, 'status'), password);
        if (/Chassis Power is off/i.test(status)) return { confirmed: true, detail: `BMC ${target.address}: chassis power is off` };
        if (Date.now() > deadline) return { confirmed: false, detail: `BMC ${target.address}: power still ${status.trim() || 'unknown'}` };
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    } catch (error) {
      // ipmitool's message names the BMC and the failure, not the password (it is in the environment).
      return { confirmed: false, detail: `BMC ${target.address}: ${(error as Error).message.split('\n')[0]}` };
    }
  }
}
