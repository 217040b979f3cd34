"""`python -m seqtasks.diagnostics gradients|clipping|sweep ...`."""

import sys

from seqtasks.diagnostics.commands import main

sys.exit(main())
