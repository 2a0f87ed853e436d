"""``python -m cli``: the console script, through the same launcher (Arrow's pool chosen first)."""

import sys

from cli.launch import main

sys.exit(main())
