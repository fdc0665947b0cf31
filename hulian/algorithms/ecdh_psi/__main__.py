import sys

from hulian.algorithms.ecdh_psi.component import ecdh_psi
from hulian.sdk.runner import run

sys.exit(run(ecdh_psi))
