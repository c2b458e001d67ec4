"""From the results table only: aggregation, styles, figures, reports and the findings."""
