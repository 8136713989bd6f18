"""``python -m accel_sim``: the accel-sim command line."""

from .cli import main

raise SystemExit(main())
