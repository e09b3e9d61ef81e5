/** QMP wire messages (see QEMU's docs/interop/qmp-spec). */
export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export interface QmpReturn {
  return: unknown;
  id?: string;
}

export interface QmpErrorReply {
  error: { class: string; desc: string };
  id?: string;
}

/** `query-status` reply. */
export interface QmpStatus {
  running: boolean;
  singlestep?: boolean;
  status: string;
}

export type QmpIncoming = QmpGreeting | QmpEvent | QmpReturn | QmpErrorReply;

export function isEvent(m: QmpIncoming): m is QmpEvent {
  return typeof (m as QmpEvent).event === 'string';
}
export function isGreeting(m: QmpIncoming): m is QmpGreeting {
  return typeof (m as QmpGreeting).QMP === 'object';
}
export function isError(m: QmpIncoming): m is QmpErrorReply {
  return typeof (m as QmpErrorReply).error === 'object';
}
export function isReturn(m: QmpIncoming): m is QmpReturn {
  return 'return' in m;
}
