"""MEASURE: run real models and write run records: loading pairs, decoding engines, sweeps, timing, profiling.

Owns model loading (``loading``), random-weight ladder models (``random_models``), devices and clocks, prompts, the
``bench`` (``bench/``), latency profiling (``latency_profile``), toy-model training and ``engines/``. May import
``records`` and ``plan``; imports torch/transformers lazily, inside the functions that need them.
"""
