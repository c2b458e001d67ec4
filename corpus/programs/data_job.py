"""A phased data job: load, transform, aggregate, drop, repeat (numpy and pandas)."""

import time

import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
for phase in range(4):
    n = 2_000_000 * (phase + 1)
    df = pd.DataFrame({"key": rng.integers(0, 5000, n), "x": rng.random(n), "y": rng.random(n)})
    df["z"] = df["x"] * df["y"] + np.sin(df["x"])
    summary = df.groupby("key").agg(mean_z=("z", "mean"), n=("z", "size"))
    joined = df.merge(summary, left_on="key", right_index=True)
    big = [np.ones(1 << 17) * i for i in range(64)]  # short-lived scratch arrays
    del big, joined
    time.sleep(0.3)
    del df
    time.sleep(0.3)
