"""Benchmarks: the engine's lane-events per second, workload generation, and whole farm runs."""
