"""The package version (one place: accel_sim.__version__, setup.cfg and caches read it)."""

__version__ = "0.1.0.dev0"
