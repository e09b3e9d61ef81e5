// Integration specs start real QEMU, PostgreSQL transactions and NATS round trips.
jest.setTimeout(60_000);
