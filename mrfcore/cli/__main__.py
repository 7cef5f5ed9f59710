import sys

from mrfcore.cli import main

sys.exit(main())
