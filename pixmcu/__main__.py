import sys

from pixmcu.cli import main

sys.exit(main())
