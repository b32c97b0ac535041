"""Identifier formats: ISO 7064 check characters, citizen IDs, USCCs, licence identifiers.

Standards: GB/T 17710 (= ISO/IEC 7064) check character systems, GB 11643-1999 citizen
identity numbers, GB 11714-1997 organisation codes, GB 32100-2015 unified social credit
codes, GB/T 36903 holder ID types and GB/T 36904 e-licence identifiers.

Error messages never repeat a whole input value: a citizen ID must not reach a log, and a
value typed into the wrong field (a citizen ID entered as a USCC) must not either.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from verifier.errors import InputError

__all__ = [
    "LICENCE_ID_PREFIX",
    "MAX_LICENCE_ID_LENGTH",
    "USCC_ALPHABET",
    "USCC_ORG_TYPES",
    "HolderIdType",
    "LicenceIdentifier",
    "iso7064_mod11_2_check",
    "iso7064_mod37_36_check",
    "iso7064_mod37_36_valid",
    "make_uscc",
    "mask_holder_id",
    "organization_code_check_char",
    "parse_licence_identifier",
    "uscc_check_char",
    "validate_citizen_id",
    "validate_holder_id",
    "validate_uscc",
]

_DIGITS = "0123456789"
_ALNUM36 = _DIGITS + string.ascii_uppercase
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# str.upper() can change a string's length ("ß" -> "SS"); only ASCII case is normalised.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
# Birth dates are Chinese civil dates: "today" must be today in China, not on the server.
_CHINA_TZ = timezone(timedelta(hours=8))

# Registration-authority code (position 1) -> allowed organisation-type codes (position 2).
# GB 32100-2015 itself fixes only 1/5/9; the full table is published and extended by the
# code maintenance centre (CODS), so new authorities or types must be added here.
USCC_ORG_TYPES: dict[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 编办直管群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "123459",  # 司法行政: 律师事务所, 公证处, 基层法律服务所, 司法鉴定, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国旅游部门代表机构, 港澳台旅游部门代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商 (市场监管): 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他: not subdivided
}

_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

LICENCE_ID_PREFIX = "1.2.156.3005.2."
MAX_LICENCE_ID_LENGTH = 128


def _show(ch: str) -> str:
    """A character quoted for a one-line message (control and non-ASCII as U+XXXX)."""
    if ch.isascii() and ch.isprintable():
        return repr(ch)
    return f"U+{ord(ch):04X}"


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    return value.strip().translate(_ASCII_UPPER)


# --- ISO/IEC 7064 (GB/T 17710) ----------------------------------------------------------


def iso7064_mod37_36_check(data: str) -> str:
    """Check character of the hybrid system MOD 37,36 over 0-9A-Z (exact, uppercase)."""
    if not isinstance(data, str) or not data:
        raise InputError("ISO 7064 MOD 37,36 needs at least one data character")
    p = 36
    for i, ch in enumerate(data, 1):
        value = _ALNUM36.find(ch)
        if value < 0:
            raise InputError(f"ISO 7064 MOD 37,36 data character {i} is {_show(ch)}, not 0-9/A-Z")
        p = ((p + value) % 36 or 36) * 2 % 37
    return _ALNUM36[(37 - p) % 36]


def iso7064_mod37_36_valid(data_with_check: str) -> bool:
    """True if the last character is the MOD 37,36 check character of the rest."""
    if not isinstance(data_with_check, str) or len(data_with_check) < 2:
        return False
    try:
        return iso7064_mod37_36_check(data_with_check[:-1]) == data_with_check[-1]
    except InputError:
        return False


def iso7064_mod11_2_check(digits: str) -> str:
    """Check character of the pure system MOD 11-2 over decimal digits ('X' stands for 10)."""
    if not isinstance(digits, str) or not digits:
        raise InputError("ISO 7064 MOD 11-2 needs at least one digit")
    p = 0
    for i, ch in enumerate(digits, 1):
        if ch not in _DIGITS:
            raise InputError(f"ISO 7064 MOD 11-2 data character {i} is not a digit 0-9")
        p = (p + int(ch)) * 2 % 11
    check = (12 - p) % 11
    return "X" if check == 10 else str(check)


# --- Citizen identity number (GB 11643-1999) ---------------------------------------------


def validate_citizen_id(value: str, *, today: date | None = None) -> str:
    """Return the normalised (uppercase X) citizen ID or raise InputError.

    Messages say what is wrong but never contain any part of the number.
    """
    v = _require_text(value, "citizen ID")
    if len(v) != 18:
        raise InputError(f"citizen ID must be 18 characters, got {len(v)}")
    for i, ch in enumerate(v[:17], 1):
        if ch not in _DIGITS:
            raise InputError(f"citizen ID character {i} is not a digit 0-9")
    if v[17] not in _DIGITS and v[17] != "X":
        raise InputError("citizen ID character 18 (check character) must be a digit or X")
    year, month, day = int(v[6:10]), int(v[10:12]), int(v[12:14])
    if year < 1900:
        raise InputError("citizen ID birth date is before 1900")
    try:
        born = date(year, month, day)
    except ValueError:
        raise InputError("citizen ID birth date is not a real calendar date") from None
    if born > (today or datetime.now(_CHINA_TZ).date()):
        raise InputError("citizen ID birth date is in the future")
    if iso7064_mod11_2_check(v[:17]) != v[17]:
        raise InputError("citizen ID check character does not match the first 17 digits")
    return v


# --- Organisation code (GB 11714-1997) and USCC (GB 32100-2015) ---------------------------


def organization_code_check_char(first8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body (0-9A-Z)."""
    body = _require_text(first8, "organisation code")
    if len(body) != 8:
        raise InputError(f"organisation code body must be 8 characters, got {len(body)}")
    total = 0
    for i, (ch, weight) in enumerate(zip(body, _ORG_CODE_WEIGHTS, strict=True), 1):
        value = _ALNUM36.find(ch)
        if value < 0:
            raise InputError(f"organisation code character {i} is {_show(ch)}, not 0-9/A-Z")
        total += value * weight
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (18th) of the first 17 USCC characters."""
    body = _require_text(first17, "USCC")
    if len(body) != 17:
        raise InputError(f"USCC body must be 17 characters, got {len(body)}")
    total = 0
    for i, (ch, weight) in enumerate(zip(body, _USCC_WEIGHTS, strict=True), 1):
        value = USCC_ALPHABET.find(ch)
        if value < 0:
            raise InputError(f"USCC character {i} is {_show(ch)}, not in {USCC_ALPHABET}")
        total += value * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Return the normalised (uppercase) unified social credit code or raise InputError."""
    v = _require_text(value, "USCC")
    if len(v) != 18:
        raise InputError(f"USCC must be 18 characters, got {len(v)}")
    for i, ch in enumerate(v, 1):
        if ch not in USCC_ALPHABET:
            raise InputError(f"USCC character {i} is {_show(ch)}, not in {USCC_ALPHABET}")
    _check_uscc_structure(v[0], v[1], v[2:8])
    org_check = organization_code_check_char(v[8:16])
    if v[16] != org_check:
        raise InputError(
            f"USCC embedded organisation code check character is {v[16]!r}, expected {org_check!r}"
        )
    check = uscc_check_char(v[:17])
    if v[17] != check:
        raise InputError(f"USCC check character is {v[17]!r}, expected {check!r}")
    return v


def _check_uscc_structure(authority: str, org_type: str, division: str) -> None:
    allowed = USCC_ORG_TYPES.get(authority)
    if allowed is None:
        raise InputError(f"USCC registration authority code {_show(authority)} is not assigned")
    if org_type not in allowed:
        raise InputError(
            f"USCC organisation type code {_show(org_type)} "
            f"is not assigned for registration authority {authority!r}"
        )
    if len(division) != 6 or any(ch not in _DIGITS for ch in division):
        raise InputError("USCC administrative division code (characters 3-8) must be 6 digits")


def make_uscc(authority: str, org_type: str, division: str, org_code8: str) -> str:
    """Build a complete, valid USCC from its parts (both check characters computed)."""
    authority, org_type, division, org_code8 = (
        _require_text(part, "USCC part") for part in (authority, org_type, division, org_code8)
    )
    if len(authority) != 1 or len(org_type) != 1:
        raise InputError("USCC registration authority and organisation type codes are 1 character")
    _check_uscc_structure(authority, org_type, division)
    if len(org_code8) != 8 or any(ch not in USCC_ALPHABET for ch in org_code8):
        raise InputError(f"USCC organisation code body must be 8 characters from {USCC_ALPHABET}")
    body = authority + org_type + division + org_code8 + organization_code_check_char(org_code8)
    return validate_uscc(body + uscc_check_char(body))


# --- Holder IDs (GB/T 36903) -------------------------------------------------------------


class HolderIdType(StrEnum):
    """Holder ID type codes of GB/T 36903."""

    CITIZEN_ID = "111"
    USCC = "001"


def _holder_id_type(id_type: HolderIdType | str) -> HolderIdType:
    try:
        return HolderIdType(id_type)
    except ValueError:
        # Not echoed: swapped arguments would put a citizen ID here.
        raise InputError(
            "unknown holder ID type, expected '111' (citizen ID) or '001' (USCC)"
        ) from None


def validate_holder_id(id_type: HolderIdType | str, value: str) -> str:
    """Validate and normalise a holder ID of the given type."""
    if _holder_id_type(id_type) is HolderIdType.CITIZEN_ID:
        return validate_citizen_id(value)
    return validate_uscc(value)


def mask_holder_id(id_type: HolderIdType | str, value: str) -> str:
    """A form safe for logs: citizen IDs keep only their first and last characters."""
    kind = _holder_id_type(id_type)
    if kind is HolderIdType.USCC:
        return value  # USCCs are public registration data
    v = _require_text(value, "citizen ID")
    if len(v) <= 2:
        return "*" * len(v)
    return v[0] + "*" * (len(v) - 2) + v[-1]


# --- Licence identifier (GB/T 36904 structure) -------------------------------------------


def _serial_text(serial: object) -> str:
    if not isinstance(serial, int) or isinstance(serial, bool) or not 1 <= serial < 10**20:
        raise InputError("licence identifier serial must be an integer from 1 to 20 digits")
    return str(serial)


def _version_text(version: object) -> str:
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 999:
        raise InputError("licence identifier version must be an integer from 1 to 999")
    return f"{version:03d}"


def _check_type_code(type_code: str) -> None:
    if len(type_code) != 21:
        raise InputError(f"licence type code must be 21 characters, got {len(type_code)}")
    if any(ch not in _DIGITS for ch in type_code[18:]):
        raise InputError("licence type code must end with 3 digits")
    try:
        validate_uscc(type_code[:18])
    except InputError as exc:
        raise InputError(f"licence type code authority: {exc}") from None


@dataclass(frozen=True)
class LicenceIdentifier:
    """`1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>`.

    Instances are always valid: the constructor checks canonical (uppercase) parts; use
    `build` to normalise first.
    """

    type_code: str
    issuer_uscc: str
    serial: int
    version: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.type_code, str) or not isinstance(self.issuer_uscc, str):
            raise InputError("licence type code and issuer USCC must be text")
        _check_type_code(self.type_code)
        try:
            issuer = validate_uscc(self.issuer_uscc)
        except InputError as exc:
            raise InputError(f"licence issuer: {exc}") from None
        if issuer != self.issuer_uscc or self.type_code != self.type_code.upper():
            raise InputError("licence identifier parts must be in canonical uppercase form")
        _serial_text(self.serial)
        _version_text(self.version)

    @property
    def check(self) -> str:
        return iso7064_mod37_36_check(self._payload())

    def _payload(self) -> str:
        return (
            self.type_code
            + self.issuer_uscc
            + _serial_text(self.serial)
            + _version_text(self.version)
        )

    def __str__(self) -> str:
        return (
            f"{LICENCE_ID_PREFIX}{self.type_code}.{self.issuer_uscc}."
            f"{self.serial}.{_version_text(self.version)}.{self.check}"
        )

    @classmethod
    def build(
        cls, type_code: str, issuer_uscc: str, serial: int, version: int = 1
    ) -> LicenceIdentifier:
        """Normalise (trim, uppercase) and validate every part."""
        return cls(
            _require_text(type_code, "licence type code"),
            _require_text(issuer_uscc, "licence issuer USCC"),
            serial,
            version,
        )


def parse_licence_identifier(text: str) -> LicenceIdentifier:
    """Parse the dotted form, checking prefix, fields, every part and the check character."""
    if not isinstance(text, str):
        raise InputError("licence identifier must be text")
    if len(text) > MAX_LICENCE_ID_LENGTH:
        raise InputError(
            f"licence identifier is too long ({len(text)} characters, "
            f"at most {MAX_LICENCE_ID_LENGTH})"
        )
    v = _require_text(text, "licence identifier")
    if not v.startswith(LICENCE_ID_PREFIX):
        raise InputError(f"licence identifier must start with {LICENCE_ID_PREFIX!r}")
    fields = v[len(LICENCE_ID_PREFIX) :].split(".")
    if len(fields) != 5:
        raise InputError(
            f"licence identifier must have 5 fields after the prefix "
            f"(type, issuer, serial, version, check), got {len(fields)}"
        )
    type_code, issuer, serial, version, check = fields
    if not 1 <= len(serial) <= 20 or any(ch not in _DIGITS for ch in serial):
        raise InputError("licence identifier serial must be 1 to 20 digits")
    if serial[0] == "0":
        raise InputError("licence identifier serial must not start with 0")
    if len(version) != 3 or any(ch not in _DIGITS for ch in version):
        raise InputError("licence identifier version must be exactly 3 digits")
    if len(check) != 1 or check not in _ALNUM36:
        raise InputError("licence identifier check field must be one character 0-9/A-Z")
    ident = LicenceIdentifier(type_code, issuer, int(serial), int(version))
    expected = ident.check
    if check != expected:
        raise InputError(f"licence identifier check character is {check!r}, expected {expected!r}")
    return ident
