from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OK: _ClassVar[ErrorCode]
    SessionError: _ClassVar[ErrorCode]
    OpAdjustError: _ClassVar[ErrorCode]
OK: ErrorCode
SessionError: ErrorCode
OpAdjustError: ErrorCode

class CreateSessionRequest(_message.Message):
    __slots__ = ("required_version", "adjust_rank", "session_id", "world_size", "rank", "prg_seed")
    REQUIRED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADJUST_RANK_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    PRG_SEED_FIELD_NUMBER: _ClassVar[int]
    required_version: int
    adjust_rank: int
    session_id: str
    world_size: int
    rank: int
    prg_seed: bytes
    def __init__(self, required_version: _Optional[int] = ..., adjust_rank: _Optional[int] = ..., session_id: _Optional[str] = ..., world_size: _Optional[int] = ..., rank: _Optional[int] = ..., prg_seed: _Optional[bytes] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class DeleteSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class DeleteSessionResponse(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class PrgBufferMeta(_message.Message):
    __slots__ = ("prg_count", "size")
    PRG_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    prg_count: int
    size: int
    def __init__(self, prg_count: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class AdjustMulRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[int] = ...) -> None: ...

class AdjusDotRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field", "M", "N", "K")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: int
    M: int
    N: int
    K: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[int] = ..., M: _Optional[int] = ..., N: _Optional[int] = ..., K: _Optional[int] = ...) -> None: ...

class AdjustAndRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[int] = ...) -> None: ...

class AdjustTruncRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field", "bits")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: int
    bits: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[int] = ..., bits: _Optional[int] = ...) -> None: ...

class AdjustTruncPrRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field", "bits")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: int
    bits: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[int] = ..., bits: _Optional[int] = ...) -> None: ...

class AdjustRandBitRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[int] = ...) -> None: ...

class AdjustResponse(_message.Message):
    __slots__ = ("code", "message", "adjust_outputs")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADJUST_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    adjust_outputs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., adjust_outputs: _Optional[_Iterable[bytes]] = ...) -> None: ...
