"""A small sweep several test modules run (serial in a second, every backend)."""

SMALL = """\
name: small
replicates: 2
seed: 3
base: {n_slots: 64, ticks: 3000, workload: churn, pool_pages: 2}
grid:
  strategy: [whole-page, pool, toy-lazy]
  grace: [0, 20]
"""
