"""One exception hierarchy for the whole product.

Each class knows the process exit code the CLI returns for it and the HTTP status the service
answers with, so a failure means the same thing on every surface.
"""

from __future__ import annotations


class CdpError(Exception):
    """Base class of every error cdp-engine raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CdpError):
    """A setting, flag or configuration file is wrong; the message names the file or setting."""

    exit_code = 2
    http_status = 400


class ContractError(CdpError):
    """Input does not satisfy a data contract as a whole (not a single bad row)."""

    exit_code = 3
    http_status = 422


class MissingColumnError(ContractError):
    """A source file lacks a column its contract requires; nothing from that file is loaded."""

    def __init__(self, file: str, columns: list[str], source: str) -> None:
        names = ", ".join(repr(c) for c in columns)
        super().__init__(f"{file}: missing required column(s) {names} for source '{source}'")
        self.file = file
        self.columns = columns
        self.source = source


class UnknownSourceError(ContractError):
    """A file name does not correspond to any declared source contract."""


class EmptyInputError(ContractError):
    """A file or input has no rows or no header at all."""


class NotFoundError(CdpError):
    """A requested entity (profile, identifier, model) does not exist."""

    exit_code = 4
    http_status = 404


class WarehouseError(CdpError):
    """The offline warehouse is missing, locked or inconsistent."""

    exit_code = 5
    http_status = 503


class UnauthorizedError(CdpError):
    """No API key, or one that is unknown or revoked."""

    exit_code = 5
    http_status = 401


class ForbiddenError(CdpError):
    """The API key is valid but its role may not do this."""

    exit_code = 5
    http_status = 403


class NotReadyError(CdpError):
    """The service is still loading its models and stores."""

    http_status = 503
