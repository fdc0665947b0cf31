from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TripleSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIPLE_SOURCE_UNSPECIFIED: _ClassVar[TripleSource]
    TRIPLE_SOURCE_DEALER: _ClassVar[TripleSource]
    TRIPLE_SOURCE_HE: _ClassVar[TripleSource]
TRIPLE_SOURCE_UNSPECIFIED: TripleSource
TRIPLE_SOURCE_DEALER: TripleSource
TRIPLE_SOURCE_HE: TripleSource

class TripleSourceProposal(_message.Message):
    __slots__ = ("sources", "fxp_fraction_bits", "he_scheme", "he_key_bits", "dealer", "session_id")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    FXP_FRACTION_BITS_FIELD_NUMBER: _ClassVar[int]
    HE_SCHEME_FIELD_NUMBER: _ClassVar[int]
    HE_KEY_BITS_FIELD_NUMBER: _ClassVar[int]
    DEALER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedScalarFieldContainer[int]
    fxp_fraction_bits: int
    he_scheme: str
    he_key_bits: int
    dealer: str
    session_id: str
    def __init__(self, sources: _Optional[_Iterable[int]] = ..., fxp_fraction_bits: _Optional[int] = ..., he_scheme: _Optional[str] = ..., he_key_bits: _Optional[int] = ..., dealer: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class TripleSourceResult(_message.Message):
    __slots__ = ("source", "he_scheme", "he_key_bits")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HE_SCHEME_FIELD_NUMBER: _ClassVar[int]
    HE_KEY_BITS_FIELD_NUMBER: _ClassVar[int]
    source: int
    he_scheme: str
    he_key_bits: int
    def __init__(self, source: _Optional[int] = ..., he_scheme: _Optional[str] = ..., he_key_bits: _Optional[int] = ...) -> None: ...
