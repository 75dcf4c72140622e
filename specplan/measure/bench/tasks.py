"""``bench``'s task plan: one :class:`Task` per record the sequential engines produce, in the order they run
(batched engines plan their own requests, see ``engines/vllm.py``)."""

from dataclasses import asdict, dataclass

from specplan.measure.bench.config import BenchConfig
from specplan.measure.engines.base import task_key


@dataclass(frozen=True)
class Task:
    """One record to produce. ``key`` identifies it for ``--resume``."""

    kind: str  # run | latency | perplexity
    engine: str | None = None
    gamma: int | None = None
    prompt_index: int | None = None
    repeat: int | None = None
    model: str | None = None  # target | draft (latency, perplexity)
    new_tokens: int | None = None  # latency: tokens per timed step

    @property
    def key(self) -> tuple:
        return task_key(asdict(self))

    @property
    def label(self) -> str:
        if self.kind == "run":
            gamma = f" γ={self.gamma}" if self.gamma else ""
            return f"{self.engine}{gamma} prompt {self.prompt_index} repeat {self.repeat}"
        if self.kind == "latency":
            return f"latency {self.model} {self.new_tokens} token(s)/step"
        return f"perplexity {self.model}"


def plan_tasks(config: BenchConfig, num_prompts: int) -> list[Task]:
    """Runs paired and interleaved (per repeat and prompt: the baseline, then every speculative engine and γ back
    to back), then step latencies (target 1 and γ+1 tokens, draft 1 token), then perplexities."""
    sequential = config.sequential
    baselines = [e.name for e in sequential if not e.speculative]
    speculative = [e.name for e in sequential if e.speculative]
    tasks = []
    for repeat in range(config.repeats):
        for index in range(num_prompts):
            tasks += [Task("run", name, None, index, repeat) for name in baselines]
            tasks += [Task("run", e, g, index, repeat) for g in config.gammas for e in speculative]
    steps = sorted({1} | ({g + 1 for g in config.gammas} if speculative else set()))
    if sequential:  # step latencies of the models bench loads
        tasks += [Task("latency", model="target", new_tokens=k) for k in steps]
    if speculative:
        tasks.append(Task("latency", model="draft", new_tokens=1))
    if config.perplexity:
        tasks += [Task("perplexity", model="target"), Task("perplexity", model="draft")]
    return tasks
