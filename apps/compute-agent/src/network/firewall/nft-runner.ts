/**
 * Runs `nft`, optionally inside a network namespace (`ip netns exec <ns> nft ...`: nft itself has
 * no namespace option), with argument arrays and the ruleset on stdin, never a shell.
 */
import { InternalError, ValidationError } from '@nubo/contracts';
import { spawn } from 'node:child_process';

export interface NftRunOptions {
  /** Network namespace of the data plane; the caller's own when absent. */
  netns?: string;
  /** Default `nft`. */
  nftBinary?: string;
  /** Default `ip`. */
  ipBinary?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

/** nft failed (bad ruleset, missing kernel support, timeout); `details.stderr` says why. */
export class NftCommandError extends InternalError {
  constructor(operation: string, details: { exitCode: number | null; stderr: string }) {
    super(`nft ${operation} failed: ${details.stderr.split('\n').find((line) => line.trim()) ?? `exit ${details.exitCode}`}`, { operation, ...details });
  }
}

export function validateNetns(netns: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(netns)) throw new ValidationError('netns must be a namespace name', 'netns');
  return netns;
}

/** The command line (pure, for tests). */
export function nftCommand(args: string[], options: NftRunOptions = {}): { file: string; args: string[] } {
  const nft = options.nftBinary ?? 'nft';
  if (!options.netns) return { file: nft, args };
  return { file: options.ipBinary ?? 'ip', args: ['netns', 'exec', validateNetns(options.netns), nft, ...args] };
}

/** Runs nft with `input` on stdin; resolves stdout, rejects NftCommandError. */
export function runNft(args: string[], input: string | undefined, options: NftRunOptions = {}): Promise<string> {
  const command = nftCommand(args, options);
  const operation = args.filter((arg) => !arg.startsWith('-')).slice(0, 2).join(' ') || args.join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command.file, command.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => undefined); // nft may exit before reading everything; the exit code tells
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new NftCommandError(operation, { exitCode: null, stderr: error.message }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const errText = Buffer.concat(stderr).toString('utf8').slice(0, 4000);
      if (code === 0) resolve(Buffer.concat(stdout).toString('utf8'));
      else reject(new NftCommandError(operation, { exitCode: code, stderr: signal ? `killed by ${signal} (timeout?) ${errText}` : errText }));
    });
    child.stdin.end(input ?? '');
  });
}
