"""From the results table only: aggregation, styles, figures, reports and the findings."""

# The committed sweeps (each sweeps/NAME.yaml) whose results ``farm findings`` reads: here, so
# that the command's help names them without importing the analysis.
SWEEPS = ("real", "size", "fleet", "timed", "sensitivity")
