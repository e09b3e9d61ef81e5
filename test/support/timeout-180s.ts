// e2e specs drive a whole cloud: boots, deletes, agent restarts.
jest.setTimeout(180_000);
