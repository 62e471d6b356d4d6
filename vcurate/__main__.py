import sys

from vcurate.cli import main

sys.exit(main())
