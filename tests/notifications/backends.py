"""E-mail backends that fail the way a real mail server does, for the sending tests."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend


class UnreachableServerBackend(BaseEmailBackend):
    """Fails every send as if the SMTP server dropped the connection."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class RefusedConnectionBackend(BaseEmailBackend):
    """Fails every send as if nothing listened on the SMTP port."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError(111, "Connection refused")


class RecipientRefusedBackend(BaseEmailBackend):
    """Fails every send as if the server rejected each recipient with 550 (no such mailbox)."""

    def send_messages(self, email_messages):
        refused = {address: (550, b"5.1.1 No such user") for message in email_messages for address in message.to}
        raise smtplib.SMTPRecipientsRefused(refused)
