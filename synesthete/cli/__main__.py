"""``python -m synesthete.cli``."""

import sys

from synesthete.cli import main

sys.exit(main())
