"""Real processes to trace files: a snapshot (capture), a recording over time (record, through a
pluggable event source), its check against the kernel's own count, and the grace-period timer.
Shares nothing with sweeps, Ray or figures; writes traces that the engine replays."""
