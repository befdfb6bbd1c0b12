"""`python -m fieldrm`: the same command line as the `fieldrm` script."""

import sys

from fieldrm.cli import main

sys.exit(main())
