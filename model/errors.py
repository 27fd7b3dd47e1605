"""The one exception type for a photo or an option that cannot be cut out (the HTTP API, the CLI and the
Python API give the same one-line reasons)."""


class CutoutError(ValueError):
    """A bad photo or option; the message is one line saying what is wrong; `status` is the HTTP status that fits."""

    status = 400
