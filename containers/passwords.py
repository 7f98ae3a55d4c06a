"""Crypt hashes for container passwords.

The member's password becomes a SHA-512 crypt hash ($6$) the moment the form
is valid, so the plaintext never reaches the database, the queue or a log.
`libpass` (the maintained fork of passlib) produces it, because Python 3.13
removed the `crypt` module. SHA-512 crypt is understood by every glibc that
Debian and Ubuntu ship, including releases that predate yescrypt.
"""

from passlib.hash import sha512_crypt

HASH_PREFIXES = ("$6$", "$y$")


def make_crypt_hash(password: str) -> str:
    return sha512_crypt.using(rounds=100_000).hash(password)


def verify_crypt_hash(password: str, crypt_hash: str) -> bool:
    return sha512_crypt.verify(password, crypt_hash)


def is_crypt_hash(value: str) -> bool:
    return value.startswith(HASH_PREFIXES) and ":" not in value and "\n" not in value
