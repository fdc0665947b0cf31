"""The algorithm SDK: the only part of hulian an algorithm imports (besides pure computation in
`hulian.crypto` and `hulian.engine` and the spec's messages in `hulian.wire.interconnection`).

    from hulian.sdk import Data, TaskContext, component, param

See docs/writing-a-component.md.
"""
from hulian.crypto.he.base import HeError
from hulian.data.storage import StorageError
from hulian.data.table import TableError, TableSource
from hulian.federation import FederationError, FederationTimeout, Party
from hulian.sdk.component import Component, Data, component
from hulian.sdk.context import TaskContext
from hulian.sdk.he import EncryptedArray, HeKey
from hulian.sdk.io import Output, TableInput
from hulian.sdk.params import ParameterError, param
from hulian.transport.iclink import Link, LinkError, LinkTimeout

__all__ = ["Component", "Data", "EncryptedArray", "FederationError", "FederationTimeout", "HeError", "HeKey", "Link",
           "LinkError", "LinkTimeout", "Output", "ParameterError", "Party", "StorageError", "TableError", "TableInput",
           "TableSource", "TaskContext", "component", "param"]
