import sys

from hulian.algorithms.statistics.component import main

sys.exit(main())
