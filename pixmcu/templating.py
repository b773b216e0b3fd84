"""The one Jinja2 environment for everything pixmcu renders (model sources, protocol header, build files):
StrictUndefined, so a missing context key is an error rather than an empty string."""

from __future__ import annotations

import functools

import jinja2

from pixmcu.resources import templates_dir


@functools.cache
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
