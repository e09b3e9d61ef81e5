/**
 * QMP errors.
 *
 *   QmpError
 *   ├── QmpConnectError        the socket could not be opened, or the greeting/negotiation failed
 *   ├── QmpDisconnectedError   the connection closed while a command was pending (or before it was sent)
 *   ├── QmpTimeoutError        no reply within the command's timeout
 *   ├── QmpProtocolError       the peer sent something that is not QMP
 *   └── QmpCommandError        QEMU answered with {"error": {"class", "desc"}}
 */
export class QmpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class QmpConnectError extends QmpError {}
export class QmpDisconnectedError extends QmpError {}
export class QmpProtocolError extends QmpError {}
export class QmpTimeoutError extends QmpError {
  constructor(readonly command: string, readonly timeoutMs: number) {
    super(`QMP command ${command} timed out after ${timeoutMs} ms`);
  }
}
export class QmpCommandError extends QmpError {
  constructor(readonly command: string, readonly errorClass: string, readonly desc: string) {
    super(`QMP command ${command} failed: ${errorClass}: ${desc}`);
  }
}
