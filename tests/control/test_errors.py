"""One error root, and the one mapping of a transport error onto the control plane's reply."""
from __future__ import annotations

import pytest

from hulian.core import errors as E


@pytest.mark.parametrize(("err", "kind"), [
    (E.IllegalRequest("bad header"), E.BadRequest), (E.BodyStalled("stalled"), E.BadRequest),
    (E.Unauthorized("bad token"), E.Forbidden), (E.BadSignature("bad signature"), E.Forbidden),
    (E.NotFound("nothing here"), E.RouteNotFound), (E.UnsupportedUri("no such uri"), E.RouteNotFound),
    (E.InternalError("boom"), E.ControlInternalError), (E.BufferFull("full"), E.ControlInternalError),
])
def test_a_transport_error_on_the_control_plane_maps_by_its_status(err, kind):
    mapped = E.as_control(err)
    assert type(mapped) is kind and mapped.message == f"{err.message} ({err.code})"


def test_both_families_share_the_root_and_keep_their_codes():
    assert issubclass(E.PtpError, E.HulianError) and issubclass(E.ControlError, E.HulianError)
    assert all(issubclass(cls, E.ControlError) for cls in E.CONTROL_ERRORS)
    assert (E.ControlInternalError.__name__, E.ControlInternalError.code, E.InternalError.code) == \
        ("InternalError", 5000, "E0000000500")
    forbidden = E.Forbidden("no")
    assert E.as_control(forbidden) is forbidden
