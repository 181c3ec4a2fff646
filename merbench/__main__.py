"""Allow ``python -m merbench``."""

from merbench.cli import main

raise SystemExit(main())
