"""Errors that the container services raise for people to read."""


class ServiceError(Exception):
    """A change that cannot be made; `str()` is a translated message for the person who asked.

    Views show the message as it is, so it never carries a secret or a traceback.
    """

    def __init__(self, message) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)
