"""Allow ``python -m merbench``."""

from merbench.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module
    raise SystemExit(main())
