"""Issue 12: a model file never runs code. A .pt holding a pickle payload is refused before it runs."""

import torch

from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file exists iff the payload ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_evil(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "pixmcu-train", "config": Payload(marker)}, evil)
    assert not marker.exists()
    return evil, marker


def test_pickle_payload_never_runs_on_inspect(tmp_path, pixmcu_cli):
    evil, marker = write_evil(tmp_path)
    for args in (("inspect", evil), ("generate", evil, "-o", tmp_path / "out")):
        code, _, err = pixmcu_cli(*args)
        assert code == 2 and "refused" in err and str(evil) in err and "Traceback" not in err
        assert not marker.exists(), f"the pickle payload ran on {args[0]}"


def test_pickle_payload_never_runs_on_load(tmp_path):
    evil, marker = write_evil(tmp_path)
    try:
        load_model(evil)
    except PixmcuError as exc:
        assert "weights_only" in str(exc)
    else:
        raise AssertionError("a checkpoint holding code was accepted")
    assert not marker.exists()


def test_corrupt_pt_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    try:
        load_model(bad)
    except PixmcuError as exc:
        assert str(exc).startswith(str(bad))
    else:
        raise AssertionError("a corrupt checkpoint was accepted")
