from hulian.wire.interconnection.runtime import phe_pb2 as _phe_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OuPublicKey(_message.Message):
    __slots__ = ("n", "g", "h")
    N_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    H_FIELD_NUMBER: _ClassVar[int]
    n: _phe_pb2.Bigint
    g: _phe_pb2.Bigint
    h: _phe_pb2.Bigint
    def __init__(self, n: _Optional[_Union[_phe_pb2.Bigint, _Mapping]] = ..., g: _Optional[_Union[_phe_pb2.Bigint, _Mapping]] = ..., h: _Optional[_Union[_phe_pb2.Bigint, _Mapping]] = ...) -> None: ...

class OuCiphertext(_message.Message):
    __slots__ = ("c",)
    C_FIELD_NUMBER: _ClassVar[int]
    c: _phe_pb2.Bigint
    def __init__(self, c: _Optional[_Union[_phe_pb2.Bigint, _Mapping]] = ...) -> None: ...

class FixedPointArray(_message.Message):
    __slots__ = ("frac_bits", "scale", "shape")
    FRAC_BITS_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    frac_bits: int
    scale: int
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, frac_bits: _Optional[int] = ..., scale: _Optional[int] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...
