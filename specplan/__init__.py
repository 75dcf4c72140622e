"""specplan: choose a draft model for speculative decoding, then prove it by measurement."""

__version__ = "0.1.0"
