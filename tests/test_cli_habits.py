"""CLI habits every command keeps: a description, defaults in --help, safe with a broken pipe."""

import argparse
import subprocess
import sys

import pytest

from conftest import ROOT


def _parsers():
    from pixmcu.cli import build_parser

    def walk(p, path):
        yield path, p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    yield from walk(sp, path + [name])

    return list(walk(build_parser(), ["pixmcu"]))


PARSERS = _parsers()


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) for p, _ in PARSERS])
def test_every_command_has_a_description_and_shows_its_defaults(path, parser):
    assert parser.description, f"{' '.join(path)} has no description"
    missing = []
    for a in parser._actions:
        if not a.option_strings or a.help == argparse.SUPPRESS or isinstance(a, (argparse._HelpAction,
                                                                                 argparse._VersionAction)):
            continue
        if a.default in (None, False, argparse.SUPPRESS) or a.required:
            continue
        if "default" not in (a.help or "").lower():
            missing.append(f"{'/'.join(a.option_strings)} (default {a.default!r})")
    assert not missing, f"{' '.join(path)}: --help does not say the default of " + ", ".join(missing)


def test_broken_pipe_prints_no_traceback():
    # A real pipe: `pixmcu models --json | head -c 10`.
    producer = subprocess.Popen([sys.executable, "-m", "pixmcu", "models", "--json"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-c", "10"], stdin=producer.stdout, capture_output=True)
    producer.stdout.close()
    err = producer.stderr.read().decode()
    producer.wait(timeout=60)
    assert len(head.stdout) == 10
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err


def test_write_to_a_closed_pipe_exits_quietly():
    # The reader end is closed before pixmcu writes a byte: every write fails with EPIPE.
    import os

    r, w = os.pipe()
    os.close(r)
    proc = subprocess.run([sys.executable, "-m", "pixmcu", "boards", "--json"], cwd=ROOT, stdout=w,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(w)
    assert proc.returncode == 141
    assert proc.stderr == "", proc.stderr
