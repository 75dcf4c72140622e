"""Every ladder size `profile` may build has a valid attention shape: built on the meta device (no memory, no
timing), so even the 80B rung is checked in milliseconds."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from specplan.measure.latency_profile import LADDER_PARAMS
from specplan.measure.random_models import count_params, kv_heads_for, ladder_config

README_SIZES = (2e6, 8e6, 20e6, 32e6, 100e6, 400e6, 1.6e9)


@pytest.mark.parametrize("params", sorted(set(LADDER_PARAMS + README_SIZES)))
def test_every_ladder_size_builds_with_kv_heads_dividing_the_heads(params):
    config = ladder_config(params)
    assert config.num_attention_heads % config.num_key_value_heads == 0
    assert config.num_attention_heads * config.head_dim == config.hidden_size
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    # The shape rule counts layers only; its rounding of layers and width moves the count.
    layer_params = count_params(model) - config.vocab_size * config.hidden_size
    assert 0.6 * params < layer_params < 1.6 * params


@pytest.mark.parametrize("heads,expected", [(8, 1), (16, 2), (13, 1), (21, 3), (54, 6), (64, 8), (1, 1)])
def test_kv_heads_are_the_divisor_nearest_an_eighth(heads, expected):
    assert kv_heads_for(heads) == expected
