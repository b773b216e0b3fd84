"""The one exception type users see: a message that names the file, layer or frame at fault."""


class PixmcuError(Exception):
    """An error caused by the user's input or environment, reported without a traceback."""


class UnsupportedOperatorError(PixmcuError):
    """A model uses an operator or option that pixmcu cannot run."""
