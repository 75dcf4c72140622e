"""Decoding engines for ``bench`` and ``profile``, one module each (``ar``, ``sd``, ``hf``, ``vllm``), all reached
through ``registry``; ``base`` is the interface they implement. Engine modules import torch, transformers and
vLLM inside functions only, so the registry is cheap to import."""
