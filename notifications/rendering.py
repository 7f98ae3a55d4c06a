"""Render notification e-mails in the recipient's language, with links into the portal."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation

logger = logging.getLogger(__name__)

# Maximum length of EmailNotification.subject.
MAX_SUBJECT_LENGTH = 255


@dataclass(frozen=True)
class RenderedEmail:
    language: str
    subject: str
    body: str


def recipient_language(user) -> str:
    """Return the language the user chose for e-mails, or the site default."""
    return user.language or settings.LANGUAGE_CODE


def portal_url(viewname: str, *args) -> str:
    """Return the absolute address of a portal page for use in an e-mail.

    A URL name that does not resolve links to the portal's front page, so a
    missing page never stops an e-mail.
    """
    base = settings.PORTAL_BASE_URL.rstrip("/")
    try:
        path = reverse(viewname, args=args)
    except NoReverseMatch:
        # NOTE: the pages named here are built separately; until they exist
        # the link points at the front page.
        logger.warning("URL name %s does not resolve; linking to the front page instead.", viewname)
        path = "/"
    return base + path


def render_email(kind: str, recipient, context: dict) -> RenderedEmail:
    """Render `notifications/<kind>_subject.txt` and `_body.txt` in the recipient's language."""
    language = recipient_language(recipient)
    context = {
        "recipient": recipient,
        "greeting_name": recipient.get_short_name() or recipient.username,
        "portal_url": settings.PORTAL_BASE_URL,
        **context,
    }

    with translation.override(language):
        subject = render_to_string(f"notifications/{kind}_subject.txt", context)
        body = render_to_string(f"notifications/{kind}_body.txt", context)

    # A header must be one line; templates may wrap, and values could carry line breaks.
    subject = " ".join(subject.split())[:MAX_SUBJECT_LENGTH]
    return RenderedEmail(language=language, subject=subject, body=body.strip() + "\n")
