"""How a failed backtest or sweep explains itself to the user.

Rules kept here: an exception from the user's code names its type, the line of the user's
code where it happened and the user's own frames only (the sandbox already trimmed the
traceback to them; nothing of the platform's internals is shown); any other failure keeps
its readable detail. No secret or host path reaches the message.
"""

from app.lab.sandbox.errors import UserCodeError


def failure_message(error: BaseException) -> str:
    if isinstance(error, UserCodeError):
        where = f" at line {error.line} of your code" if error.line else ""
        text = f"{error.error_type}{where}: {error.message}"
        if error.traceback and error.line:
            text += "\n" + error.traceback
        return text
    detail = getattr(error, "detail", None)
    return str(detail or error) or type(error).__name__
