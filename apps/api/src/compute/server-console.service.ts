/**
 * Nova's os-getConsoleOutput: answered at once by the server's host (its agent reads the serial
 * console log), with no task state and no instance action, as in Nova.
 */
import { Inject, Injectable } from '@nestjs/common';
import { AgentOps, ConflictError, NotFoundError, subjects } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';

@Injectable()
export class ServerConsoleService {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  /** The last `lines` lines of the console (all when absent); 409 while the server has no host. */
  async output(server: ServerEntity, lines: number | undefined, requestId: string): Promise<string> {
    if (!server.hostId) throw new ConflictError(`Instance ${server.id} is not ready`);
    const request = {
      serverId: server.id,
      opId: `console-log-${requestId}`,
      deadline: Date.now() + AgentOps.consoleLog.timeoutMs,
      ...(lines !== undefined ? { lines } : {}),
    };
    try {
      const reply = await this.rpc.call(subjects.agent(server.hostId, AgentOps.consoleLog.op), AgentOps.consoleLog, request, { requestId });
      return reply.output;
    } catch (error) {
      // The host has no files for it (yet): Nova's ConsoleNotAvailable.
      if (error instanceof NotFoundError) throw new NotFoundError('Guest does not have a console available.');
      throw error;
    }
  }
}
