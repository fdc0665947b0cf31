import sys

from hulian.algorithms.ecdh_psi.component import main

sys.exit(main())
