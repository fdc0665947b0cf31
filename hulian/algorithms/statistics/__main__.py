import sys

from hulian.algorithms.statistics.component import statistics
from hulian.sdk.runner import run

sys.exit(run(statistics))
