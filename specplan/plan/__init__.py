"""PLAN: from a target's size and a hardware profile to the throughput-optimal draft size N*, lookahead γ* and speedup.

Owns the SDSL theory (docs/theory.md), the scaling laws, the shape rule, hardware profiles and latency models, and
the planner. Pure Python + numpy/scipy/yaml: imports nothing of specplan but ``errors`` and ``units``, never torch.
"""
