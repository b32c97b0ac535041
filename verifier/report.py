"""Verdicts and indications (modelled on ETSI EN 319 102-1) and their exit codes."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    INDETERMINATE = "INDETERMINATE"

    @property
    def exit_code(self) -> int:
        return {Verdict.VALID: 0, Verdict.INVALID: 1, Verdict.INDETERMINATE: 3}[self]

    @property
    def etsi(self) -> str:
        """The ETSI EN 319 102-1 main indication this verdict corresponds to."""
        return {
            Verdict.VALID: "TOTAL-PASSED",
            Verdict.INVALID: "TOTAL-FAILED",
            Verdict.INDETERMINATE: "INDETERMINATE",
        }[self]


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    NO_SIGNATURE = "NO_SIGNATURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    FORMAT_FAILURE = "FORMAT_FAILURE"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED = "REVOKED"
    TRY_LATER = "TRY_LATER"
