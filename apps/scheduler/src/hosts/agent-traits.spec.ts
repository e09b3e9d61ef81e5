import { AgentTraits, agentTraitSet } from './agent-traits';

/** A database that holds host_traits rows of source 'agent' for one host, and counts statements. */
function fakeDb(stored: string[]) {
  const state = { stored: [...stored], reads: 0, writes: 0 };
  const query = async (sql: string, params: unknown[]) => {
    if (sql.startsWith('SELECT trait')) {
      state.reads++;
      return state.stored.map((trait) => ({ trait }));
    }
    if (sql.startsWith('INSERT')) {
      state.writes++;
      state.stored = [...(params[1] as string[])];
    }
    return [];
  };
  return { state, db: { query, transaction: async (fn: (tx: { query: typeof query }) => Promise<void>) => fn({ query }) } };
}

describe(AgentTraits.name, () => {
  describe('agentTraitSet', () => {
    it.each([
      [['HW_CPU_X86_AVX2', 'COMPUTE_ACCEL_TCG'], ['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2']],
      [['COMPUTE_ACCEL_TCG', 'COMPUTE_ACCEL_TCG'], ['COMPUTE_ACCEL_TCG']],
      [['CUSTOM_GPU', 'lower', 'has space', 7, 'COMPUTE_ACCEL_KVM'], ['COMPUTE_ACCEL_KVM']],
      [['CUSTOM_NUBO_SHARED_STORAGE', 'CUSTOM_NUBO_OTHER', 'COMPUTE_ACCEL_TCG'], ['COMPUTE_ACCEL_TCG', 'CUSTOM_NUBO_SHARED_STORAGE']],
      [[], []],
    ])('%j -> %j', (reported, expected) => {
      expect(agentTraitSet(reported)).toEqual(expected);
    });
  });

  describe('sync', () => {
    it('writes a changed set once, then only compares', async () => {
      const { state, db } = fakeDb(['COMPUTE_ACCEL_TCG']);
      const traits = new AgentTraits(db as never);
      await expect(traits.sync('h1', ['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2'])).resolves.toBe(true);
      expect(state).toMatchObject({ stored: ['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2'], reads: 1, writes: 1 });
      await expect(traits.sync('h1', ['HW_CPU_X86_AVX2', 'COMPUTE_ACCEL_TCG'])).resolves.toBe(false);
      expect(state).toMatchObject({ reads: 1, writes: 1 });
      await expect(traits.sync('h1', ['COMPUTE_ACCEL_TCG'])).resolves.toBe(true);
      expect(state).toMatchObject({ stored: ['COMPUTE_ACCEL_TCG'], reads: 2, writes: 2 });
    });

    it('does not write a set the database already has (a scheduler that just started)', async () => {
      const { state, db } = fakeDb(['HW_CPU_X86_SSE42', 'COMPUTE_ACCEL_TCG']);
      await expect(new AgentTraits(db as never).sync('h1', ['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_SSE42'])).resolves.toBe(false);
      expect(state).toMatchObject({ reads: 1, writes: 0 });
    });

    it('leaves the traits of an agent that reports none alone', async () => {
      const { state, db } = fakeDb(['COMPUTE_ACCEL_TCG']);
      await expect(new AgentTraits(db as never).sync('h1', undefined)).resolves.toBe(false);
      expect(state).toMatchObject({ reads: 0, writes: 0, stored: ['COMPUTE_ACCEL_TCG'] });
    });
  });
});
