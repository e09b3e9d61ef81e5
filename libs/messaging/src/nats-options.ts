/** NATS connection options shared by Nest's client and server transports. */
export interface NatsConnectionOptions {
  url: string;
  /** Shown in `nats-server` connection lists. */
  name: string;
  /** Queue group for service subjects (network.*, image.*); omitted for per-host agents. */
  queue?: string;
}

export function natsTransportOptions(options: NatsConnectionOptions) {
  return {
    servers: [options.url],
    name: options.name,
    queue: options.queue,
    // Keep trying forever: the control plane may restart; callers time out on their own.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
}
