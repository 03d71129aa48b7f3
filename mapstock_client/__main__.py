"""`python -m mapstock_client`, the same as the `mapstock` console script."""

import sys

from mapstock_client.cli import main

sys.exit(main())
