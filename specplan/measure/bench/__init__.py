"""``bench``: configuration and validation (``config``), the task plan (``tasks``), the run header and record
constructor (``header``) and the runner (``runner``). Engines are reached through ``engines/registry.py`` only."""

from specplan.measure.bench.config import BenchConfig, batch_notes, workload
from specplan.measure.bench.header import effective_settings, environment, record_maker, resume_header
from specplan.measure.bench.runner import BenchResult, perplexity_text, run_bench
from specplan.measure.bench.tasks import Task, plan_tasks
from specplan.measure.engines.base import task_key

__all__ = ["BenchConfig", "BenchResult", "Task", "batch_notes", "effective_settings", "environment",
           "perplexity_text", "plan_tasks", "record_maker", "resume_header", "run_bench", "task_key", "workload"]
