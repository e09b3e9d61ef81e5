/*
 * memwriter: holds <MiB> of memory and dirties it at <MiB_per_second>, for live-migration tests.
 *
 *   memwriter <MiB> <MiB_per_second> [report_seconds]
 *
 * Prints "NUBO-MEMWRITER: started ..." once, then a report every report_seconds (default 1;
 * 0 = only on SIGUSR1, which always reports at once):
 *
 *   NUBO-MEMWRITER: counter <n> checksum <16 hex digits> ok
 *   NUBO-MEMWRITER: counter <n> checksum <16 hex digits> MISMATCH pages <bad>
 *
 * counter is the number of 4 KiB pages written since start (64-bit, lives in the process, so it
 * never goes back while the process lives, across migrations included). Write n (1-based) goes
 * to page (n - 1) % pages and tags it n; untouched pages carry tag 0; every 8-byte word k of a
 * page holds mix(tag, page) + k. So the whole region is a function of the counter alone: a
 * report checks each page against it ("ok", or the number of wrong pages) and prints a checksum
 * of the memory as read, which equals that of any other run at the same counter and size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 4096u
#define PAGE_WORDS (PAGE_BYTES / sizeof(uint64_t))
#define PAGES_PER_MIB (1048576u / PAGE_BYTES)

static volatile sig_atomic_t report_requested;

static void on_usr1(int sig) {
  (void)sig;
  report_requested = 1;
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t page_base(uint64_t tag, uint64_t page) { return splitmix64(tag ^ splitmix64(page)); }

static void fill_page(uint64_t *words, uint64_t tag, uint64_t page) {
  uint64_t base = page_base(tag, page);
  for (uint64_t k = 0; k < PAGE_WORDS; k++) words[k] = base + k;
}

/* The tag page p must carry after `counter` writes over `pages` pages. */
static uint64_t expected_tag(uint64_t counter, uint64_t pages, uint64_t p) {
  if (counter < p + 1) return 0;
  return (p + 1) + pages * ((counter - (p + 1)) / pages);
}

static void report(const uint64_t *mem, uint64_t pages, uint64_t counter) {
  uint64_t checksum = 0xcbf29ce484222325ull, bad = 0;
  for (uint64_t p = 0; p < pages; p++) {
    const uint64_t *words = mem + p * PAGE_WORDS;
    uint64_t base = page_base(expected_tag(counter, pages, p), p), wrong = 0;
    for (uint64_t k = 0; k < PAGE_WORDS; k++) {
      wrong |= words[k] ^ (base + k);
      checksum = (checksum ^ words[k]) * 0x100000001b3ull;
    }
    bad += wrong != 0;
  }
  if (bad == 0)
    printf("NUBO-MEMWRITER: counter %" PRIu64 " checksum %016" PRIx64 " ok\n", counter, checksum);
  else
    printf("NUBO-MEMWRITER: counter %" PRIu64 " checksum %016" PRIx64 " MISMATCH pages %" PRIu64 "\n",
           counter, checksum, bad);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse(const char *text, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' || value > max) return -1;
  *out = value;
  return 0;
}

int main(int argc, char **argv) {
  unsigned long mib, rate, interval = 1;
  if ((argc != 3 && argc != 4) || parse(argv[1], 1ul << 20, &mib) || mib == 0 ||
      parse(argv[2], 1ul << 20, &rate) || (argc == 4 && parse(argv[3], 86400, &interval))) {
    fprintf(stderr, "usage: memwriter <MiB 1..> <MiB_per_second 0..> [report_seconds 0..]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1; /* no SA_RESTART: the sleep ends early and the report comes at once */
  sigaction(SIGUSR1, &sa, NULL);

  uint64_t pages = (uint64_t)mib * PAGES_PER_MIB;
  uint64_t *mem = mmap(NULL, pages * PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("memwriter: mmap");
    return 1;
  }
  for (uint64_t p = 0; p < pages; p++) fill_page(mem + p * PAGE_WORDS, 0, p);

  double pages_per_second = (double)rate * PAGES_PER_MIB;
  printf("NUBO-MEMWRITER: started pid %d size %lu MiB rate %lu MiB/s\n", (int)getpid(), mib, rate);

  uint64_t counter = 0;
  double credit = 0, last = now(), next_report = last + (double)interval;
  for (;;) {
    double t = now();
    if (report_requested || (interval && t >= next_report)) {
      report_requested = 0;
      report(mem, pages, counter);
      if (interval && t >= next_report) next_report = t > next_report + interval ? t + interval : next_report + interval;
      t = now();
    }
    /* At most one second of backlog, so a paused or starved guest does not cause a burst. */
    credit += (t - last) * pages_per_second;
    last = t;
    if (credit > pages_per_second) credit = pages_per_second;
    for (uint64_t batch = 0; credit >= 1 && batch < 4096; batch++, credit -= 1) {
      counter++;
      uint64_t p = (counter - 1) % pages;
      fill_page(mem + p * PAGE_WORDS, counter, p);
    }
    if (credit < 1) {
      struct timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
  }
}
