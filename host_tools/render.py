"""Jinja2 rendering of the firmware-side files pixmcu generates (protocol header, build files)."""

from __future__ import annotations

import functools

import jinja2

from pixmcu.resources import templates_dir


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_template(name: str, context: dict) -> str:
    return _env().get_template(name).render(**context)
