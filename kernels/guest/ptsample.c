/* ptsample OUT [PERIOD_US] [REFRESH]: the kernel's PageTables over time.
 *
 * Every PERIOD_US (default 10000) microseconds: write /proc/sys/vm/stat_refresh (REFRESH 1, the
 * default: fold the per-CPU counters, so the reading does not lag), read PageTables from
 * /proc/meminfo, keep "TIME_US KB" (CLOCK_MONOTONIC) in memory. On SIGTERM or SIGINT write every
 * sample to OUT and exit 0. Static, no allocation after start: its own page tables do not move. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 400000
static long long times[MAX_SAMPLES];
static int kbs[MAX_SAMPLES];
static volatile sig_atomic_t stop;
static char buf[8192];

static void on_signal(int sig) { (void)sig; stop = 1; }

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int page_tables_kb(void) {
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, "\nPageTables:");
    return p ? atoi(p + 12) : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ptsample OUT [PERIOD_US] [REFRESH]\n");
        return 2;
    }
    long period = argc > 2 ? atol(argv[2]) : 10000;
    int refresh = argc > 3 ? atoi(argv[3]) : 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int n = 0;
    struct timespec gap = {period / 1000000, (period % 1000000) * 1000};
    while (!stop && n < MAX_SAMPLES) {
        if (refresh) {
            int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
            if (fd >= 0) {
                if (write(fd, "1", 1) < 0) refresh = 0;
                close(fd);
            }
        }
        kbs[n] = page_tables_kb();
        times[n] = now_us();
        n++;
        nanosleep(&gap, NULL);
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) return 1;
    for (int i = 0; i < n; i++) fprintf(out, "%lld %d\n", times[i], kbs[i]);
    fclose(out);
    return 0;
}
