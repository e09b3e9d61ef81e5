import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CPU_FLAG_TRAITS, cpuFlagsOf, cpuTraitsOf, hostTraitsOf, readHostTraits } from './host-traits';

const cpuinfo = (flags: string) =>
  `processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: ${flags}\nbugs\t\t: sysret_ss_attrs\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`;

describe('host traits', () => {
  describe('cpuTraitsOf', () => {
    it.each([
      ['avx2', ['HW_CPU_X86_AVX2']],
      ['sse4_2', ['HW_CPU_X86_SSE42']],
      ['sse4_1', ['HW_CPU_X86_SSE41']],
      ['pni', ['HW_CPU_X86_SSE3']],
      ['pclmulqdq', ['HW_CPU_X86_CLMUL']],
      ['fma', ['HW_CPU_X86_FMA3']],
      ['bmi1 bmi2', ['HW_CPU_X86_BMI', 'HW_CPU_X86_BMI2']],
      ['aes', ['HW_CPU_X86_AESNI']],
      ['sha_ni', ['HW_CPU_X86_SHA']],
      ['avx512_vpopcntdq avx512f', ['HW_CPU_X86_AVX512VPOPCNTDQ', 'HW_CPU_X86_AVX512F']],
      ['vaes vpclmulqdq gfni', []],
      ['vaes avx512f', ['HW_CPU_X86_AVX512VAES', 'HW_CPU_X86_AVX512F']],
      ['fpu vme lm nx hypervisor constant_tsc', []],
      ['', []],
    ])('flags "%s" -> %j', (flags, traits) => {
      expect(cpuTraitsOf(new Set(flags.split(' ').filter(Boolean)))).toEqual(traits);
    });

    it('maps only to os-traits HW_CPU_X86_* names', () => {
      for (const trait of Object.values(CPU_FLAG_TRAITS)) expect(trait).toMatch(/^HW_CPU_X86_[A-Z0-9]+$/);
    });
  });

  describe('cpuFlagsOf', () => {
    it('reads the flags line', () => {
      expect([...cpuFlagsOf(cpuinfo('fpu  sse2 avx2'))]).toEqual(['fpu', 'sse2', 'avx2']);
    });

    it('has none without a flags line', () => {
      expect(cpuFlagsOf('processor : 0\n').size).toBe(0);
    });
  });

  describe('hostTraitsOf', () => {
    it.each([
      ['kvm', 'sse4_2 avx2', ['COMPUTE_ACCEL_KVM', 'COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2', 'HW_CPU_X86_SSE42']],
      ['tcg', 'sse4_2 avx2', ['COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX2', 'HW_CPU_X86_SSE42']],
      ['tcg', '', ['COMPUTE_ACCEL_TCG']],
    ] as const)('accelerator %s with flags "%s"', (accelerator, flags, traits) => {
      expect(hostTraitsOf({ accelerator, cpuinfo: cpuinfo(flags) })).toEqual(traits);
    });
  });

  describe('readHostTraits', () => {
    it('reads a cpuinfo file, and reports the accelerators alone when it cannot', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cpuinfo-'));
      try {
        writeFileSync(join(dir, 'cpuinfo'), cpuinfo('avx'));
        expect(readHostTraits('kvm', join(dir, 'cpuinfo'))).toEqual(['COMPUTE_ACCEL_KVM', 'COMPUTE_ACCEL_TCG', 'HW_CPU_X86_AVX']);
        expect(readHostTraits('tcg', join(dir, 'missing'))).toEqual(['COMPUTE_ACCEL_TCG']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
