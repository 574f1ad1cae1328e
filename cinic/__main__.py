import sys

from cinic.cli import main

sys.exit(main())
