import sys

from hulian.sdk.runner import main

sys.exit(main())
