"""The self-description (component spec §2) of `statistics`; light to import (the node registers it)."""
from __future__ import annotations

from typing import Any

NAME = "statistics"
VERSION = "1.0.0"

DESCRIPTION: dict[str, Any] = {
    "componentName": NAME,
    "title": "Statistics",
    "provider": "hulian",
    "version": VERSION,
    "description": "Per numeric column of the party's own dataset: count, mean, std (sample), min, max, "
                   "quartiles and missing rate. Local to each party: nothing is exchanged.",
    "roleList": ["guest", "host", "arbiter"],
    "desVersion": "1.2.0",
    "storageEngine": ["file", "s3"],
    "inputParam": [
        {"name": "columns", "title": "columns", "description": "columns to describe (JSON list or "
         "comma-separated); all numeric columns when empty", "type": "string", "optional": "true",
         "defaultValue": ""},
        {"name": "quantiles", "title": "quantiles", "description": "quantiles to report, JSON list of "
         "numbers in [0, 1]", "type": "object", "optional": "true", "defaultValue": "[0.25, 0.5, 0.75]"},
    ],
    "inputData": [{"name": "data", "description": "the party's table (CSV or Parquet)", "category": "dataset",
                   "dataFormat": ["csv", "parquet"]}],
    "outputData": [{"name": "report", "description": "the statistics as JSON", "category": "report",
                    "dataFormat": ["json"]}],
    "result": [{"resultCode": "0", "resultMessage": "success"},
               {"resultCode": "1", "resultMessage": "failed: see the task log"}],
}
