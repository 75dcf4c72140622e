"""Decoding engines for ``bench``: ``ar`` (target alone), ``sd`` (specplan's speculative loop), ``hf`` (transformers
assisted generation). torch and transformers are imported by these modules, so import them only inside commands
that need them."""
