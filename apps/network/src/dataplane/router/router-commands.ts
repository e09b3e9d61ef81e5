/**
 * Runs `ip` and `nft` (inside a namespace through `ip netns exec`: nft has no namespace option),
 * argument arrays only, input on stdin. Behind an interface so the sync can be tested with a fake.
 */
import { InternalError } from '@nubo/contracts';
import { spawn } from 'node:child_process';

export interface RouterCommandRunner {
  /** Resolves stdout; rejects `RouterCommandError`. */
  run(file: string, args: string[], input?: string): Promise<string>;
}

/** A data plane command failed; `details` holds the argv and stderr (no tenant secrets live there). */
export class RouterCommandError extends InternalError {
  constructor(readonly argv: string[], readonly stderr: string, exitCode: number | null) {
    super(`${argv.slice(0, 6).join(' ')} failed: ${stderr.split('\n').find((l) => l.trim()) ?? `exit ${exitCode}`}`, { argv, stderr, exitCode });
  }
}

export class ExecRouterCommandRunner implements RouterCommandRunner {
  constructor(private readonly timeoutMs = 30_000) {}

  run(file: string, args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.stdin.on('error', () => undefined); // the exit code tells
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new RouterCommandError([file, ...args], e.message, null));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8').slice(0, 4000);
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(new RouterCommandError([file, ...args], signal ? `killed by ${signal} ${stderr}` : stderr, code));
      });
      child.stdin.end(input ?? '');
    });
  }
}

/** `ip` argv prefix for a namespace (the caller's own when undefined). */
export const inNetns = (netns: string | undefined): string[] => (netns ? ['-n', netns] : []);
