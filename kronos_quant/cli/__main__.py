import sys

from kronos_quant.cli import main

sys.exit(main())
