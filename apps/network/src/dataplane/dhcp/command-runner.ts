/** Runs a program with an argument array (never a shell) and gives its stdout; a seam for tests. */
import { execFile } from 'node:child_process';

export interface CommandRunner {
  run(file: string, args: string[]): Promise<string>;
}

export class CommandFailedError extends Error {
  constructor(
    readonly file: string,
    readonly args: string[],
    readonly stderr: string,
  ) {
    super(`${file} ${args.join(' ')} failed: ${stderr.trim() || 'no message'}`);
    this.name = 'CommandFailedError';
  }
}

export class ExecCommandRunner implements CommandRunner {
  constructor(private readonly timeoutMs = 15_000) {}

  run(file: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(file, args, { encoding: 'utf8', timeout: this.timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        if (error) reject(new CommandFailedError(file, args, stderr || error.message));
        else resolve(stdout);
      });
    });
  }
}
