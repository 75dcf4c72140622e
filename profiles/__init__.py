"""Bundled hardware profiles (YAML), installed as the package ``specplan.profiles``."""
