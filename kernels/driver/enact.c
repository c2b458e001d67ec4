/* enact: play one address space of a ptfarm trace on the running kernel and print readings.
 *
 * Usage: enact JOBFILE MM
 *
 * JOBFILE (text, written by kernels/plan.py):
 *   line 1:  job ID BASE SPAN AREA PRIME_BASE SETTLE_MIN_MS SETTLE_STEP_MS
 *            (BASE, PRIME_BASE in hex; SPAN and AREA in bytes)
 *   then one event a line:
 *     f SLOT   fault: map one page at BASE + SLOT*SPAN (once) and write to it
 *     r SLOT   rcu_free: munmap that page (free_pgtables -> pte_free_tlb: the RCU path)
 *     h SLOT   fault as a transparent huge page: map the whole SPAN-aligned slot, madvise it
 *              MADV_HUGEPAGE and write to it; the huge page's deposited table is the slot's
 *              table (fails unless AnonHugePages grew by SPAN)
 *     u SLOT   free: munmap that huge page (zap_huge_pmd -> zap_deposited_table -> pte_free:
 *              the table is freed at once, no grace period); read without settling
 *     a ADDR   fault at an absolute hex address (a table under a fresh upper-level table)
 *     b        begin a burst: the events up to 'e' run at SCHED_FIFO with no reading
 *     e        end the burst: back to SCHED_OTHER, settle, one reading
 *     x        exit: the address space ends; the next one starts from a fresh exec of enact
 *
 * MM is the index of the address space to play (0 for the first): the program skips the events
 * of the earlier ones. Each address space: settle (the previous one's frees land), put the PTE
 * fragment allocator in a known state (an anchor table in the trace's area so its upper-level
 * table exists, then tables one at a time in a separate area until PageTables steps: the newest
 * table page then has exactly one table handed out), print the baseline, then enact events and
 * print one settled reading after each (after 'e' for a burst). At 'x' it execs itself for the
 * next address space; that one's baseline is the reading of the exit.
 *
 * Output lines (one write(2) each, prefix "@@"):
 *   @@ B JOB MM EVENT PT_KB VMPTE_KB PRIMES    baseline of address space MM; EVENT = index of the
 *                                             exit that started it (-1 for the first)
 *   @@ R JOB MM EVENT PT_KB VMPTE_KB LAG_US    reading after event EVENT (0-based in the job)
 *   @@ F JOB MESSAGE                          failure
 * PageTables is read after writing /proc/sys/vm/stat_refresh (per-CPU counters folded).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MAX_SLOTS 65536
#define MAX_PRIMES 1100

static char line_buf[65536];
static unsigned char mapped[MAX_SLOTS]; /* 0 no, 1 a page, 2 a huge page */
static long job_id, mm_index;
static unsigned long base, span, area, prime_base;
static long settle_min_ms, settle_step_ms;
static long page_size;

static void say(const char *fmt, ...)
{
	char out[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, sizeof out, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof out - 1)
		n = sizeof out - 1;
	if (write(1, out, n) < 0)
		_exit(3);
}

static void fail(const char *what)
{
	say("@@ F %ld %s (errno %d)\n", job_id, what, errno);
	_exit(2);
}

static long read_field(const char *path, const char *key)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		fail("open /proc file");
	long n = 0, r;
	while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	char *p = strstr(buf, key);
	if (!p)
		fail("field missing in /proc file");
	return strtol(p + strlen(key), NULL, 10);
}

/* PageTables in kB with the per-CPU counters folded first. */
static long page_tables(void)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1\n", 2) < 0) { /* a negative counter makes it complain: read anyway */ }
		close(fd);
	}
	return read_field("/proc/meminfo", "PageTables:");
}

static long vm_pte(void)
{
	return read_field("/proc/self/status", "VmPTE:");
}

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Wait until RCU frees have landed: PageTables unchanged over a step, at least the minimum
 * waited. *lag gets the time from the start to the last change seen. */
static long settle(long *lag)
{
	long start = now_us(), last_change = start;
	long a = page_tables();
	for (;;) {
		sleep_ms(settle_step_ms);
		long b = page_tables();
		long t = now_us();
		if (b != a)
			last_change = t;
		if (b == a && t - start >= settle_min_ms * 1000)
			break;
		a = b;
	}
	if (lag)
		*lag = last_change - start;
	return a;
}

static void touch(unsigned long addr)
{
	void *p = mmap((void *)addr, page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || (unsigned long)p != addr)
		fail("mmap at a fixed address");
	*(volatile char *)p = 1;
}

static void fault(long slot)
{
	if (slot < 0 || slot >= MAX_SLOTS)
		fail("slot out of range");
	unsigned long addr = base + (unsigned long)slot * span;
	if (!mapped[slot]) {
		touch(addr);
		mapped[slot] = 1;
	} else {
		*(volatile char *)addr += 1; /* a hit: the table is there */
	}
}

static void fault_huge(long slot)
{
	if (slot < 0 || slot >= MAX_SLOTS)
		fail("slot out of range");
	unsigned long addr = base + (unsigned long)slot * span;
	if (mapped[slot]) {
		*(volatile char *)addr += 1; /* a hit */
		return;
	}
	long before = read_field("/proc/self/smaps_rollup", "AnonHugePages:");
	void *p = mmap((void *)addr, span, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || (unsigned long)p != addr)
		fail("mmap of a huge slot at a fixed address");
	if (madvise(p, span, MADV_HUGEPAGE) != 0)
		fail("madvise MADV_HUGEPAGE");
	*(volatile char *)p = 1;
	if (read_field("/proc/self/smaps_rollup", "AnonHugePages:") - before != (long)(span >> 10))
		fail("no transparent huge page at the fault (THP disabled or no free 2 MiB page)");
	mapped[slot] = 2;
}

/* rcu_free (a page) or free (a huge page): the mapping must be the kind the op frees. */
static void unmap(long slot, int huge)
{
	if (slot < 0 || slot >= MAX_SLOTS || mapped[slot] != (huge ? 2 : 1))
		fail(huge ? "free of a slot not mapped as a huge page"
			  : "rcu_free of a slot that is not mapped as a page");
	if (munmap((void *)(base + (unsigned long)slot * span), huge ? span : page_size) != 0)
		fail("munmap");
	mapped[slot] = 0;
}

static void set_fifo(int on)
{
	struct sched_param sp = { .sched_priority = on ? 50 : 0 };
	if (sched_setscheduler(0, on ? SCHED_FIFO : SCHED_OTHER, &sp) != 0)
		fail("sched_setscheduler");
}

/* The known state: an anchor table under the trace's upper-level table, a first table in the
 * priming area (its upper-level table), then tables until PageTables steps. */
static long prime(long *primes)
{
	long before, after;
	touch(base + (area - span));
	touch(prime_base);
	before = page_tables();
	for (long i = 1; i < MAX_PRIMES; i++) {
		touch(prime_base + (unsigned long)i * span);
		after = page_tables();
		if (after != before) {
			*primes = i;
			return after;
		}
	}
	fail("PageTables never stepped while priming");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		say("@@ F -1 usage: enact JOBFILE MM\n");
		return 2;
	}
	page_size = sysconf(_SC_PAGESIZE);
	mm_index = strtol(argv[2], NULL, 10);
	FILE *f = fopen(argv[1], "r");
	if (!f)
		fail("open job file");
	if (!fgets(line_buf, sizeof line_buf, f) ||
	    sscanf(line_buf, "job %ld %lx %lu %lu %lx %ld %ld", &job_id, &base, &span, &area,
		   &prime_base, &settle_min_ms, &settle_step_ms) != 7)
		fail("bad job header");

	long event = 0, mm = 0, exit_event = -1;
	while (mm < mm_index) { /* skip the earlier address spaces */
		if (!fgets(line_buf, sizeof line_buf, f))
			fail("fewer address spaces than MM");
		if (line_buf[0] == 'x') {
			mm++;
			exit_event = event;
		}
		char c = line_buf[0];
		if (c && strchr("frhuax", c))
			event++;
	}

	long primes = 0;
	settle(NULL);
	long pt = prime(&primes);
	say("@@ B %ld %ld %ld %ld %ld %ld\n", job_id, mm, exit_event, pt, vm_pte(), primes);

	int burst = 0;
	while (fgets(line_buf, sizeof line_buf, f)) {
		char op = line_buf[0];
		long lag = 0;
		switch (op) {
		case 'f':
			fault(strtol(line_buf + 1, NULL, 10));
			break;
		case 'r':
			unmap(strtol(line_buf + 1, NULL, 10), 0);
			break;
		case 'h':
			fault_huge(strtol(line_buf + 1, NULL, 10));
			break;
		case 'u':
			unmap(strtol(line_buf + 1, NULL, 10), 1);
			break;
		case 'a':
			touch(strtoul(line_buf + 1, NULL, 16));
			break;
		case 'b':
			set_fifo(1);
			burst = 1;
			continue;
		case 'e':
			set_fifo(0);
			burst = 0;
			pt = settle(&lag);
			say("@@ R %ld %ld %ld %ld %ld %ld\n", job_id, mm, event - 1, pt, vm_pte(), lag);
			continue;
		case 'x': {
			char next[32];
			fclose(f);
			snprintf(next, sizeof next, "%ld", mm + 1);
			char *args[] = { argv[0], argv[1], next, NULL };
			execv("/proc/self/exe", args);
			fail("execv");
		}
		default:
			continue;
		}
		if (!burst) {
			pt = op == 'r' ? settle(&lag) : page_tables();
			say("@@ R %ld %ld %ld %ld %ld %ld\n", job_id, mm, event, pt, vm_pte(), lag);
		}
		event++;
	}
	say("@@ Z %ld %ld %ld\n", job_id, mm, event);
	return 0;
}
