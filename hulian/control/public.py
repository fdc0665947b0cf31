"""Text this node sends to peers and API clients, free of its file-system layout.

Task messages come from components' stderr and from exceptions, which name local files (a dataset's path under
the node's storage, a temporary upload, a traceback's source files). Every message leaving the control plane
passes through `public_text`, which replaces absolute paths and file:// URLs with `<local path>`; the node's
own log and the task log on the node keep the detail. API paths (/v1/...) are kept: they are public.
"""
from __future__ import annotations

import re

PLACEHOLDER = "<local path>"
# file:// URLs, and absolute paths of two or more segments not inside a word, URL or relative path
PATH = re.compile(r"file://[^\s'\"`<>]+|(?<![\w:/.~-])(?:/[^\s/'\"`<>|:;,()\[\]{}]+){2,}/?")
PUBLIC_PREFIXES = ("/v1/",)


def public_text(text: str) -> str:
    """`text` with local paths replaced (see the module doc)."""
    return PATH.sub(lambda m: m.group(0) if m.group(0).startswith(PUBLIC_PREFIXES) else PLACEHOLDER, text)
