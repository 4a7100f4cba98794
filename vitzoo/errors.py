"""The exceptions vitzoo raises: every expected failure is a :class:`VitzooError`."""

from __future__ import annotations


class VitzooError(Exception):
    """Base class of every error vitzoo raises on purpose (one clear sentence)."""


class UnknownNameError(VitzooError, KeyError):
    """A model, weight or format name that vitzoo does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SpecError(VitzooError, ValueError):
    """A ViT spec that cannot describe a real model."""


class CheckpointError(VitzooError):
    """A weight file that is corrupt, truncated, foreign or does not fit the model."""


class DownloadError(VitzooError):
    """Weights could not be fetched (network, checksum, or offline without a cache)."""


class DataError(VitzooError):
    """A bad image, data directory or label set."""


class BackendError(VitzooError):
    """A backend that is missing, not installed, or cannot run the request."""


class WriteError(VitzooError):
    """An output that cannot be written: a full disk, a read-only file system, no permission.

    The previous file at the path (if any) is left as it was and no partial file remains.
    """


class TrainError(VitzooError):
    """A training run that cannot go on: its loss or gradients stopped being finite."""


class TrainingInterrupted(VitzooError):
    """A training run stopped by SIGTERM or SIGINT after saving a checkpoint it can resume from.

    ``exit_code`` is the shell's convention for the signal (143 for SIGTERM, 130 for SIGINT);
    ``output`` is the run's directory.
    """

    def __init__(self, message: str, *, signum: int, output: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.output = output
        self.exit_code = 128 + signum


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if empty), for one-sentence errors.

    Example:
        >>> reason(ValueError("bad header\\nat byte 8"))
        'bad header'
    """
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
