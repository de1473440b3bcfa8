"""``python -m iblpipe`` runs the command line."""

import sys

from iblpipe.cli import main

if __name__ == "__main__":
    sys.exit(main())
