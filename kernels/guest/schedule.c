/* schedule SPAN N HOLD_US: page tables born and freed at known times and addresses.
 *
 * Maps N one-page anonymous regions at 64 GiB + i * SPAN (SPAN: the bytes one PTE table maps;
 * each region alone in its span, so touching it allocates exactly one PTE table and unmapping it
 * frees that table through the RCU path), touches them in order i = 0..N-1, then unmaps the even
 * ones, then the odd ones in reverse, then maps and touches region 0 again and exits (exit frees
 * it). HOLD_US between steps. Every step is printed as "OP I ADDRESS BEFORE_US AFTER_US"
 * (CLOCK_MONOTONIC around the call) on standard output, after the last step. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BASE (64ULL << 30)
#define MAX_STEPS 1024
static char lines[MAX_STEPS][96];
static int n_lines;

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fault(int i, unsigned long long span) {
    unsigned long long addr = BASE + i * span;
    long long before = now_us();
    char *p = mmap((void *)addr, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || (unsigned long long)p != addr) { perror("mmap"); exit(1); }
    p[0] = 1;
    snprintf(lines[n_lines++], 96, "fault %d %#llx %lld %lld", i, addr, before, now_us());
}

static void unmap(int i, unsigned long long span) {
    unsigned long long addr = BASE + i * span;
    long long before = now_us();
    if (munmap((void *)addr, 4096)) { perror("munmap"); exit(1); }
    snprintf(lines[n_lines++], 96, "rcu_free %d %#llx %lld %lld", i, addr, before, now_us());
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: schedule SPAN N HOLD_US\n"); return 2; }
    unsigned long long span = strtoull(argv[1], NULL, 0);
    int n = atoi(argv[2]);
    useconds_t hold = (useconds_t)atol(argv[3]);
    if (n < 1 || n > 256) { fprintf(stderr, "N must be 1..256\n"); return 2; }
    for (int i = 0; i < n; i++) { fault(i, span); usleep(hold); }
    for (int i = 0; i < n; i += 2) { unmap(i, span); usleep(hold); }
    for (int i = n % 2 ? n - 2 : n - 1; i >= 1; i -= 2) {
        unmap(i, span); usleep(hold);
    }
    fault(0, span);
    usleep(hold);
    for (int i = 0; i < n_lines; i++) puts(lines[i]);
    fflush(stdout);
    return 0;
}
