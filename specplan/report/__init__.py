"""REPORT: from run records (and optionally a plan) to metrics, tables, plots, calibrated laws and a CI gate.

Owns the metric definitions (docs/metrics.md), aggregation into rows, predicted vs measured, output formats, the
gate, plots and ``calibrate``. May import ``records`` and ``plan``; never measure, never torch or transformers.
"""
