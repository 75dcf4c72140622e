"""The shape rule: layer count and width of a decoder-only transformer with a given parameter count.

Used by ``plan``'s hardware cost model (per-layer overhead, KV-cache bytes) and by ``profile`` to build models of
the same shape it plans with. The rule (docs/theory.md §5, and the README):

- parameters ≈ 12 · layers · width²  (attention 4·width² + a gated MLP ≈ 8·width² per layer; embeddings ignored);
- width / layers = ``aspect_ratio`` (default 100: LLaMA-3-70B has 80 × 8192, LLaMA-2-7B 32 × 4096, ~128);
- width rounded to a multiple of 64 (the head size), at least 64; at least one layer.
"""

import math
from dataclasses import dataclass

DEFAULT_ASPECT_RATIO = 100.0
HEAD_DIM = 64


@dataclass(frozen=True)
class Shape:
    layers: int
    width: int

    @property
    def heads(self) -> int:
        return self.width // HEAD_DIM


def layers_exact(params: float, aspect_ratio: float = DEFAULT_ASPECT_RATIO) -> float:
    """Real-valued layer count of the shape rule, (params / (12·aspect²))^(1/3). The latency model uses it (and
    width = aspect·layers) so that cost is smooth in the parameter count; built models round it."""
    return (params / (12.0 * aspect_ratio**2)) ** (1.0 / 3.0)


def shape_for_params(params: float, aspect_ratio: float = DEFAULT_ASPECT_RATIO) -> Shape:
    """Layers and width of a model with ``params`` parameters under the shape rule above."""
    layers = max(1, round(layers_exact(params, aspect_ratio)))
    width = math.sqrt(params / (12.0 * layers))
    width = max(HEAD_DIM, HEAD_DIM * round(width / HEAD_DIM))
    return Shape(layers=layers, width=width)
