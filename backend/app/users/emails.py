"""Outgoing e-mail. Without SMTP settings, messages are logged instead of sent."""

import logging
import smtplib
from email.message import EmailMessage

from app.core.config import settings

logger = logging.getLogger(__name__)


def send_email(*, to: str, subject: str, body: str) -> None:
    if not settings.emails_enabled or not settings.SMTP_HOST:
        # The body carries a one-time token; log only that a mail would have gone out and
        # the link in local mode so a developer can finish a reset without SMTP.
        logger.info(
            "email not sent (no SMTP configured)",
            extra={
                "to": to,
                "subject": subject,
                "body": body if settings.ENVIRONMENT == "local" else "<redacted>",
            },
        )
        return
    message = EmailMessage()
    message["From"] = str(settings.EMAILS_FROM_EMAIL)
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=30) as smtp:
        if settings.SMTP_TLS:
            smtp.starttls()
        if settings.SMTP_USER and settings.SMTP_PASSWORD:
            smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD)
        smtp.send_message(message)
    logger.info("email sent", extra={"to": to, "subject": subject})


def send_reset_password_email(*, email: str, token: str) -> None:
    link = f"{settings.FRONTEND_HOST}/reset-password?token={token}"
    send_email(
        to=email,
        subject=f"{settings.PROJECT_NAME} - password recovery",
        body=(
            f"Someone asked to reset the password of {email}.\n"
            f"Use this link within {settings.EMAIL_RESET_TOKEN_EXPIRE_HOURS} hours: {link}\n"
            "If it was not you, ignore this message."
        ),
    )
