import sys

from sessionward.cli import main

sys.exit(main())
