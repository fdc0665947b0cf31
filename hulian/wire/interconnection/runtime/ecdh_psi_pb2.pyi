from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EcdhPsiCipherBatch(_message.Message):
    __slots__ = ("type", "batch_index", "is_last_batch", "count", "ciphertext", "duplicate_item_cnt_map")
    class DuplicateItemCntMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    IS_LAST_BATCH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ITEM_CNT_MAP_FIELD_NUMBER: _ClassVar[int]
    type: str
    batch_index: int
    is_last_batch: bool
    count: int
    ciphertext: bytes
    duplicate_item_cnt_map: _containers.ScalarMap[int, int]
    def __init__(self, type: _Optional[str] = ..., batch_index: _Optional[int] = ..., is_last_batch: _Optional[bool] = ..., count: _Optional[int] = ..., ciphertext: _Optional[bytes] = ..., duplicate_item_cnt_map: _Optional[_Mapping[int, int]] = ...) -> None: ...
