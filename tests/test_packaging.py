"""The wheel carries templates/ and firmware/, and an installed pixmcu finds them."""

import os
import subprocess
import sys

from conftest import ROOT


def test_wheel_ships_templates_and_firmware(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("pixmcu-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True)
    # The installed copy shadows the editable checkout; its dependencies come from this environment.
    env = dict(os.environ, PYTHONPATH=str(site))
    probe = ("import pixmcu, pixmcu.resources as r; t = r.templates_dir(); f = r.firmware_dir();"
             f"assert pixmcu.__file__.startswith({str(site)!r}), pixmcu.__file__;"
             "assert (f / 'include' / 'pm_hooks.h').is_file(), f;"
             "print(len(list(t.rglob('*.j2'))), len(list(f.rglob('*.[ch]'))))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path, env=env)
    n_templates, n_firmware = map(int, out.stdout.split())
    assert n_templates >= 1 and n_firmware >= 1
    help_out = subprocess.run([sys.executable, "-m", "pixmcu", "--help"], check=True, capture_output=True, text=True,
                              cwd=tmp_path, env=env)
    assert "inspect" in help_out.stdout
