import sys

from gazevos.cli import main

sys.exit(main())
