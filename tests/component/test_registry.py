"""Self-descriptions, image names and instance states: validation names the bad field; registrations last."""
from __future__ import annotations

import pytest

from hulian.component.images import ImageError, InstanceState, check_labels, parse_image, transition
from hulian.component.registry import RegistrationError, validate, version_key
from tests.component.conftest import description

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("change", "field"), [
    ({"componentName": ""}, "componentName"),
    ({"componentName": "bad name!"}, "componentName"),
    ({"roleList": []}, "roleList"),
    ({"storageEngine": "s3"}, "storageEngine"),
    ({"provider": None}, "provider"),
    ({"inputData": [{"name": "d", "category": "picture"}]}, "inputData[0].category"),
    ({"outputData": [{"name": "o", "category": "report"}, {"name": "o", "category": "metric"}]},
     "outputData[1].name"),
    ({"inputParam": [{"name": "x", "optional": "maybe"}]}, "inputParam[0].optional"),
    ({"result": ["oops"]}, "result[0]"),
])
def test_validation_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(RegistrationError) as e:
        validate({**description("c"), **change})
    assert str(e.value).startswith(field)


def test_versions_sort_numerically() -> None:
    assert sorted(["1.10.0", "1.9.2", "1.10.0-beta", "2.0.0"], key=version_key) == \
        ["1.9.2", "1.10.0-beta", "1.10.0", "2.0.0"]


@pytest.mark.parametrize("ref", ["/fudata/dh-psi:1.0.0", "fudata/hetero-lr:1.0.1-beta",
                                 "registry.example.com:5000/baidu/fate-collection:2.10.3"])
def test_image_names(ref: str) -> None:
    img = parse_image(ref)
    assert img.tag and img.developer and img.name
    assert img.pinned(DIGEST).endswith("@" + DIGEST)


@pytest.mark.parametrize(("ref", "why"), [
    ("/fudata/dh-psi:latest", "major.minor.patch"), ("/fudata/dh-psi", "no tag"), ("/dh-psi:1.0.0", "must be"),
    ("/FuData/dh-psi:1.0.0", "developer"), ("/fudata/dh-psi:1.0", "major.minor.patch"),
])
def test_bad_image_names(ref: str, why: str) -> None:
    with pytest.raises(ImageError, match=why):
        parse_image(ref)


def test_labels_and_states() -> None:
    assert check_labels({"log_dir": "/home/admin/app/logs", "port": "80", "uds_dir": "/var/uds"})
    with pytest.raises(ImageError, match="port"):
        check_labels({"port": "http"})
    with pytest.raises(ImageError, match="log_dir"):
        check_labels({"log_dir": "logs"})
    assert transition(InstanceState.UNLOADED, InstanceState.LOADED) == InstanceState.LOADED
    assert transition(InstanceState.STARTED, InstanceState.STOPPED) == InstanceState.STOPPED
    with pytest.raises(ImageError):
        transition(InstanceState.UNLOADED, InstanceState.STARTED)


async def test_builtins_registered_and_durable(make_service) -> None:
    service, _ = await make_service()
    psi = service.description("ecdh_psi")
    assert psi["roleList"] == ["guest", "host"]
    assert [d["name"] for d in psi["inputData"]] == ["data"]
    assert [d["name"] for d in psi["outputData"]] == ["result"]
    assert {p["name"] for p in psi["inputParam"]} >= {"curve_type", "field_names", "result_to_rank"}
    stats = service.description("statistics")
    assert [d["name"] for d in stats["outputData"]] == ["report"]
    await service.register(description("mine"), image=f"/acme/mine:1.2.0@{DIGEST}")
    await service.register({**description("mine"), "version": "1.10.0"})
    with pytest.raises(RegistrationError, match=r"^image"):
        await service.register(description("other"), image="/acme/other:latest")
    with pytest.raises(RegistrationError, match=r"^roleList"):
        await service.register({**description("other"), "roleList": "guest"})
    await service.close()
    again, _ = await make_service()  # a restarted node reads the registrations back
    assert again.description("mine")["version"] == "1.10.0"
    assert again.description("mine", "1.0.0")["componentName"] == "mine"
    listed = {(c["description"]["componentName"], c["description"]["version"]): c for c in again.components()}
    assert listed[("mine", "1.0.0")]["digest"] == DIGEST
    assert listed[("mine", "1.0.0")]["state"] == InstanceState.UNLOADED
    assert listed[("ecdh_psi", "1.0.0")]["state"] == InstanceState.LOADED
    assert again.description("nothing") is None
