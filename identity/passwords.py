"""Password hashing (argon2id) and the password policy for new passwords.

Cost: argon2id, memory 19 MiB (19456 KiB), 2 passes, 1 lane -- the OWASP minimum profile.
Measured on this 2-core machine: 17.7 ms per verification, 57/s in one process and only
60/s in two (memory bandwidth, not cores, is the limit), so sign-in tops out near 60/s here
while each guess costs an attacker 19 MiB. 64 MiB x 3 passes (RFC 9106's second profile)
took ~100 ms, capping sign-in near 10/s: too slow for a public sign-in service on this box.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity.errors import PasswordPolicyError

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1
MIN_LENGTH = 12
MAX_LENGTH = 128

_hasher = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

_CLASSES = (
    ("lower-case letters", str.islower),
    ("upper-case letters", str.isupper),
    ("digits", str.isdigit),
)


def check_password_policy(password: str) -> None:
    """Raise PasswordPolicyError unless the password is 12-128 characters of two classes."""
    if not isinstance(password, str):
        raise PasswordPolicyError("password must be text")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"password must be at most {MAX_LENGTH} characters")
    used = set()
    for ch in password:
        for name, test in _CLASSES:
            if test(ch):
                used.add(name)
                break
        else:
            used.add("other characters")
    if len(used) < 2:
        raise PasswordPolicyError(
            "password must mix at least two of: lower-case letters, upper-case letters, "
            "digits, other characters"
        )


def hash_password(password: str) -> str:
    """Check the policy, then return the argon2id PHC string (salt and parameters included)."""
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if the password matches; argon2 compares in constant time. Never raises."""
    if not isinstance(password, str) or len(password) > 4 * MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with other parameters than today's (rehash on sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def rehash(password: str) -> str:
    """Hash an already accepted password with today's parameters (no policy check: a
    password set under an older policy must keep working)."""
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("govtrust dummy password for unknown accounts")


def burn_verification_time(password: str) -> None:
    """Spend the time of one verification, so an unknown login answers no faster."""
    verify_password(_dummy_hash(), password if isinstance(password, str) else "")
