/**
 * The standard traits (os-traits names) a host reports in its heartbeat: COMPUTE_ACCEL_TCG
 * always (QEMU emulates on any host), COMPUTE_ACCEL_KVM when the agent runs KVM guests (its
 * accelerator is kvm: /dev/kvm opened), and HW_CPU_X86_* for the CPU flags in /proc/cpuinfo
 * listed in CPU_FLAG_TRAITS. Only flags in that table become traits.
 */
import { readFileSync } from 'node:fs';

/**
 * /proc/cpuinfo flag -> os-traits name (os_traits/hw/cpu/x86). The kernel's names differ from
 * the traits' in places: pni is SSE3, sse4_1 is SSE41, pclmulqdq is CLMUL, fma is FMA3, bmi1 is
 * BMI, sha_ni is SHA, aes is AESNI. As Nova's libvirt driver does, vaes, gfni and vpclmulqdq map
 * to the AVX512 variants of those traits; unlike it, only when the CPU has avx512f too
 * (AVX512_GATED), since AVX2-only CPUs have them as well.
 */
export const CPU_FLAG_TRAITS: Readonly<Record<string, string>> = {
  '3dnow': 'HW_CPU_X86_3DNOW',
  abm: 'HW_CPU_X86_ABM',
  aes: 'HW_CPU_X86_AESNI',
  avx: 'HW_CPU_X86_AVX',
  avx2: 'HW_CPU_X86_AVX2',
  avx512f: 'HW_CPU_X86_AVX512F',
  avx512cd: 'HW_CPU_X86_AVX512CD',
  avx512pf: 'HW_CPU_X86_AVX512PF',
  avx512er: 'HW_CPU_X86_AVX512ER',
  avx512vl: 'HW_CPU_X86_AVX512VL',
  avx512bw: 'HW_CPU_X86_AVX512BW',
  avx512dq: 'HW_CPU_X86_AVX512DQ',
  avx512_vnni: 'HW_CPU_X86_AVX512VNNI',
  avx512vbmi: 'HW_CPU_X86_AVX512VBMI',
  avx512ifma: 'HW_CPU_X86_AVX512IFMA',
  avx512_vbmi2: 'HW_CPU_X86_AVX512VBMI2',
  avx512_bitalg: 'HW_CPU_X86_AVX512BITALG',
  avx512_vpopcntdq: 'HW_CPU_X86_AVX512VPOPCNTDQ',
  vaes: 'HW_CPU_X86_AVX512VAES',
  gfni: 'HW_CPU_X86_AVX512GFNI',
  vpclmulqdq: 'HW_CPU_X86_AVX512VPCLMULQDQ',
  bmi1: 'HW_CPU_X86_BMI',
  bmi2: 'HW_CPU_X86_BMI2',
  pclmulqdq: 'HW_CPU_X86_CLMUL',
  f16c: 'HW_CPU_X86_F16C',
  fma: 'HW_CPU_X86_FMA3',
  fma4: 'HW_CPU_X86_FMA4',
  mmx: 'HW_CPU_X86_MMX',
  mpx: 'HW_CPU_X86_MPX',
  sha_ni: 'HW_CPU_X86_SHA',
  sgx: 'HW_CPU_X86_SGX',
  sse: 'HW_CPU_X86_SSE',
  sse2: 'HW_CPU_X86_SSE2',
  pni: 'HW_CPU_X86_SSE3',
  ssse3: 'HW_CPU_X86_SSSE3',
  sse4_1: 'HW_CPU_X86_SSE41',
  sse4_2: 'HW_CPU_X86_SSE42',
  sse4a: 'HW_CPU_X86_SSE4A',
  svm: 'HW_CPU_X86_SVM',
  vmx: 'HW_CPU_X86_VMX',
  tbm: 'HW_CPU_X86_TBM',
  xop: 'HW_CPU_X86_XOP',
  pdpe1gb: 'HW_CPU_X86_PDPE1GB',
  stibp: 'HW_CPU_X86_STIBP',
};

/** Flags that count only beside avx512f (see CPU_FLAG_TRAITS). */
const AVX512_GATED = new Set(['vaes', 'gfni', 'vpclmulqdq']);

/** The flags every CPU of the host has (the first "flags" line; the kernel lists one per CPU). */
export function cpuFlagsOf(cpuinfo: string): Set<string> {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo);
  return new Set(line ? line[1].trim().split(/\s+/).filter(Boolean) : []);
}

export function cpuTraitsOf(flags: ReadonlySet<string>): string[] {
  const traits = new Set<string>();
  for (const flag of flags) {
    const trait = CPU_FLAG_TRAITS[flag];
    if (!trait) continue;
    if (AVX512_GATED.has(flag) && !flags.has('avx512f')) continue;
    traits.add(trait);
  }
  return [...traits];
}

/** Every standard trait of the host, sorted. */
export function hostTraitsOf(options: { accelerator: 'kvm' | 'tcg'; cpuinfo: string }): string[] {
  const traits = new Set(['COMPUTE_ACCEL_TCG', ...cpuTraitsOf(cpuFlagsOf(options.cpuinfo))]);
  if (options.accelerator === 'kvm') traits.add('COMPUTE_ACCEL_KVM');
  return [...traits].sort();
}

/** hostTraitsOf with /proc/cpuinfo read now; unreadable: no CPU traits (logged by the caller). */
export function readHostTraits(accelerator: 'kvm' | 'tcg', cpuinfoPath = '/proc/cpuinfo'): string[] {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync(cpuinfoPath, 'utf8');
  } catch {
    // A host without procfs (a container) still reports its accelerators.
  }
  return hostTraitsOf({ accelerator, cpuinfo });
}
