/* A standalone driver of the checked lane loop, built with -fsanitize=address,undefined by
 * tests/engine/test_lane_loop.py (a sanitized build cannot be loaded into Python). It reads
 * one call's arrays from a file, as the extension receives them (lanes, t_max, t_cols, then
 * ops, slots, times, timed, lengths, lp, all little-endian int64 but ops and timed int8 and
 * slots int32), runs strategy argv[1]'s loop and prints each lane's ints, one line a lane, or
 * the broken invariant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define STRATEGY(s) int PTF_ENTRY(s) PTF_ENTRY_PARAMS;
PTF_STRATEGIES
#undef STRATEGY

static const struct {
    const char *name;
    int(*run) PTF_ENTRY_PARAMS;
} ENTRIES[] = {
#define STRATEGY(s) {#s, PTF_ENTRY(s)},
    PTF_STRATEGIES
#undef STRATEGY
};

static void *take(FILE *f, size_t bytes) {
    void *mem = malloc(bytes > 0 ? bytes : 1);
    if (mem == NULL || fread(mem, 1, bytes, f) != bytes) {
        fprintf(stderr, "short input\n");
        exit(2);
    }
    return mem;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s STRATEGY INPUT\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (f == NULL)
        return 2;
    i64 *head = take(f, 3 * sizeof(i64));
    i64 lanes = head[0], t_max = head[1], t_cols = head[2];
    int8_t *ops = take(f, (size_t)(lanes * t_max));
    int32_t *slots = take(f, (size_t)(lanes * t_max) * sizeof(int32_t));
    i64 *times = take(f, (size_t)(lanes * t_cols) * sizeof(i64));
    int8_t *timed = take(f, (size_t)lanes);
    i64 *lengths = take(f, (size_t)lanes * sizeof(i64));
    i64 *lp = take(f, (size_t)(lanes * LP_COUNT) * sizeof(i64));
    fclose(f);
    i64 *ints = calloc((size_t)(lanes * O_COUNT), sizeof(i64));
    i64 *sums = calloc((size_t)(lanes * S_COUNT), sizeof(i64));
    i64 bad[2] = {-1, -1};
    const char *why = NULL;
    for (size_t e = 0; e < sizeof ENTRIES / sizeof ENTRIES[0]; e++) {
        if (strcmp(ENTRIES[e].name, argv[1]) != 0)
            continue;
        int code = ENTRIES[e].run(lanes, t_max, t_cols, ops, slots, times, timed, lengths, lp,
                                  ints, sums, bad, &why);
        if (code != PTF_OK) {
            printf("code %d lane %lld event %lld: %s\n", code, (long long)bad[0],
                   (long long)bad[1], why ? why : "");
            return 1;
        }
        for (i64 i = 0; i < lanes; i++) {
            for (i64 c = 0; c < O_COUNT; c++)
                printf("%lld%c", (long long)ints[i * O_COUNT + c], c + 1 < O_COUNT ? ' ' : '\n');
        }
        free(ops), free(slots), free(times), free(timed), free(lengths), free(lp), free(ints),
            free(sums), free(head);
        return 0;
    }
    fprintf(stderr, "no strategy %s\n", argv[1]);
    return 2;
}
