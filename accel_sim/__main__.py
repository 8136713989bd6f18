"""``python -m accel_sim``: the accel-sim command line."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports: one line, like everywhere else
    sys.stderr.write("accel-sim: interrupted (SIGINT)\n")
    raise SystemExit(130) from None

raise SystemExit(main())
