"""The package version, in one place (the core and the writers record it in every file they write)."""

__version__ = "0.1.0"
