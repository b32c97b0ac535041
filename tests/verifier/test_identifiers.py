"""Tests for verifier.identifiers: published vectors, round trips and attempts to break checks."""

from __future__ import annotations

import re
from datetime import date

import pytest

from verifier.errors import InputError
from verifier.identifiers import (
    LICENCE_ID_PREFIX,
    MAX_LICENCE_ID_LENGTH,
    USCC_ALPHABET,
    USCC_ORG_TYPES,
    HolderIdType,
    LicenceIdentifier,
    iso7064_mod11_2_check,
    iso7064_mod37_36_check,
    iso7064_mod37_36_valid,
    make_uscc,
    mask_holder_id,
    organization_code_check_char,
    parse_licence_identifier,
    uscc_check_char,
    validate_citizen_id,
    validate_holder_id,
    validate_uscc,
)

ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# GB 11643-1999 sample number (the standard's own example; check character X).
GB11643_SAMPLE = "11010519491231002X"

# GB 32100-2015 worked example of the check character: body 91350100M000100Y4,
# weighted sum 1640, 1640 mod 31 = 28, check 31 - 28 = 3 (the example then rejects "...4Z").
GB32100_EXAMPLE = "91350100M000100Y43"

# Real codes shown on business licences / the national enterprise credit publicity system
# and reproduced in many public sources; each passes both embedded checks.
PUBLISHED_USCCS = [
    GB32100_EXAMPLE,
    "914403001922038216",  # 华为技术有限公司 (Huawei Technologies Co., Ltd.)
    "91330100716105852F",  # 阿里巴巴(中国)网络技术有限公司
    "9144030071526726XG",  # 腾讯科技(深圳)有限公司: organisation code check 'X'
    "91310000132260250X",  # 上海汽车集团股份有限公司: organisation code check '0' (C9 = 11)
    "12100000425006133D",  # 华东师范大学: authority 1 (机构编制), type 2 (事业单位)
]


def citizen_id(birth: str, seq: str = "002", region: str = "110105") -> str:
    body = region + birth + seq
    return body + iso7064_mod11_2_check(body)


def uscc_with_checks(first16: str) -> str:
    """First 16 characters plus a correct organisation-code check and USCC check."""
    body = first16 + organization_code_check_char(first16[8:16])
    return body + uscc_check_char(body)


def assert_no_citizen_id(message: str, value: str) -> None:
    assert "\n" not in message
    assert re.search(r"\d{5,}", message) is None, message
    for start in range(len(value) - 5):
        assert value[start : start + 6] not in message, message


# --- ISO/IEC 7064 -----------------------------------------------------------------------

# MOD 37,36: "A12425GABC1234002M" is the GRid example (IFPI GRid standard, also used in the
# test suites of cdigit and @konfirm/iso7064); the others come from those suites.
MOD37_36_VECTORS = [
    ("A12425GABC1234002", "M"),
    ("RABD", "A"),
    ("X0H", "X"),
    ("B7Q3SFTUSH2QN7BIXBPMNZAM", "I"),
    ("TBR", "1"),
    ("9", "J"),
    ("B3739U6CR", "K"),
    ("1M", "Q"),
    ("WP8Z0", "9"),
]

# MOD 11-2: "079" -> X and "0794" -> 0 are the ISO 7064 examples; 0000-0002-1825-0097 is the
# ORCID documentation example; the rest are from the cdigit / @konfirm/iso7064 suites.
MOD11_2_VECTORS = [
    ("079", "X"),
    ("0794", "0"),
    ("000000021825009", "7"),
    ("000000029079593", "X"),
    ("747633", "6"),
    ("41812925", "9"),
    ("8200107028943", "6"),
]


@pytest.mark.parametrize(("data", "check"), MOD37_36_VECTORS)
def test_mod37_36_vectors(data: str, check: str) -> None:
    assert iso7064_mod37_36_check(data) == check
    assert iso7064_mod37_36_valid(data + check)


@pytest.mark.parametrize(("digits", "check"), MOD11_2_VECTORS)
def test_mod11_2_vectors(digits: str, check: str) -> None:
    assert iso7064_mod11_2_check(digits) == check


def test_mod37_36_detects_every_single_substitution() -> None:
    good = "A12425GABC1234002M"
    for i, original in enumerate(good):
        for ch in ALNUM36:
            if ch != original:
                assert not iso7064_mod37_36_valid(good[:i] + ch + good[i + 1 :]), (i, ch)


def test_mod37_36_known_transposition_blind_spot() -> None:
    # Hybrid MOD 37,36 misses some swaps of characters with consecutive values (here I=18,
    # J=19 at the start), which is why licence identifiers are not claimed to catch them all.
    assert iso7064_mod37_36_check("IJ") == iso7064_mod37_36_check("JI")


@pytest.mark.parametrize("bad", ["", "a", "M", "A12425GABC1234002m", "A1-2425", None, 17])
def test_mod37_36_valid_rejects_malformed(bad: object) -> None:
    assert not iso7064_mod37_36_valid(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "12a4", "１２", "1 2"])
def test_check_functions_reject_bad_alphabet(bad: str) -> None:
    with pytest.raises(InputError):
        iso7064_mod11_2_check(bad)
    with pytest.raises(InputError):
        iso7064_mod37_36_check(bad.lower() if bad else bad)


# --- Citizen ID -------------------------------------------------------------------------


def test_gb11643_sample_and_lowercase_x() -> None:
    assert validate_citizen_id(GB11643_SAMPLE) == GB11643_SAMPLE
    assert validate_citizen_id(GB11643_SAMPLE.lower()) == GB11643_SAMPLE
    assert validate_citizen_id(f"  {GB11643_SAMPLE}\n") == GB11643_SAMPLE
    assert iso7064_mod11_2_check(GB11643_SAMPLE[:17]) == "X"


def test_every_check_value_round_trips() -> None:
    seen = set()
    for seq in range(40):
        value = citizen_id("19900101", f"{seq:03d}")
        assert validate_citizen_id(value) == value
        seen.add(value[-1])
    assert seen == set("0123456789X")


def test_citizen_id_every_single_substitution_rejected() -> None:
    alphabet = "0123456789X" + "A" + " " + "\u0663" + "\uff11"  # Arabic-Indic 3, fullwidth 1
    for i, original in enumerate(GB11643_SAMPLE):
        for ch in alphabet:
            if ch == original:
                continue
            mutated = GB11643_SAMPLE[:i] + ch + GB11643_SAMPLE[i + 1 :]
            with pytest.raises(InputError) as info:
                validate_citizen_id(mutated)
            assert_no_citizen_id(str(info.value), mutated)


def test_citizen_id_adjacent_transpositions_rejected() -> None:
    # MOD 11-2 weights 2^k mod 11 differ between neighbours and digit differences are < 11.
    for value in (GB11643_SAMPLE, citizen_id("19851107", "213"), citizen_id("20011231", "879")):
        for i in range(17):
            if value[i] == value[i + 1]:
                continue
            swapped = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
            with pytest.raises(InputError) as info:
                validate_citizen_id(swapped)
            assert_no_citizen_id(str(info.value), swapped)


@pytest.mark.parametrize(
    ("birth", "reason"),
    [
        ("19490230", "not a real calendar date"),
        ("19000229", "not a real calendar date"),  # 1900 is not a leap year
        ("19491301", "not a real calendar date"),
        ("19490100", "not a real calendar date"),
        ("18991231", "before 1900"),
        ("00000000", "before 1900"),
        ("20200102", "in the future"),
    ],
)
def test_bad_birth_dates(birth: str, reason: str) -> None:
    value = citizen_id(birth)
    with pytest.raises(InputError, match=reason) as info:
        validate_citizen_id(value, today=date(2020, 1, 1))
    assert "birth date" in str(info.value)
    assert_no_citizen_id(str(info.value), value)


def test_good_edge_dates() -> None:
    for birth in ("20000229", "19000101", "20200101"):
        value = citizen_id(birth)
        assert validate_citizen_id(value, today=date(2020, 1, 1)) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (GB11643_SAMPLE[:17], "18 characters, got 17"),
        (GB11643_SAMPLE + "1", "18 characters, got 19"),
        ("", "18 characters, got 0"),
        ("1101051949123100-X", "character 17 is not a digit"),
        ("11010519491231002Y", "digit or X"),
        ("110105194912310021", "check character does not match"),
    ],
)
def test_citizen_id_messages(value: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        validate_citizen_id(value)
    assert_no_citizen_id(str(info.value), value)


def test_citizen_id_rejects_non_text() -> None:
    with pytest.raises(InputError):
        validate_citizen_id(11010519491231002)  # type: ignore[arg-type]


# --- Organisation code and USCC ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("M000100Y", "4"),  # from the GB 32100 worked example
        ("19220382", "1"),
        ("71610585", "2"),
        ("71526726", "X"),  # C9 = 10
        ("13226025", "0"),  # C9 = 11
        ("42500613", "3"),
    ],
)
def test_organization_code_vectors(body: str, check: str) -> None:
    assert organization_code_check_char(body) == check


@pytest.mark.parametrize("code", PUBLISHED_USCCS)
def test_published_usccs(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code
    assert uscc_check_char(code[:17]) == code[17]
    assert make_uscc(code[0], code[1], code[2:8], code[8:16]) == code


def test_gb32100_worked_example_rejects_z() -> None:
    assert uscc_check_char(GB32100_EXAMPLE[:17]) == "3"
    # Z is outside the GB 32100 alphabet, so the character check fires first.
    with pytest.raises(InputError, match="character 18 is 'Z'"):
        validate_uscc("91350100M000100Y4Z")
    with pytest.raises(InputError, match="check character is '4', expected '3'"):
        validate_uscc("91350100M000100Y44")


def test_uscc_every_single_substitution_rejected() -> None:
    for code in PUBLISHED_USCCS:
        for i, original in enumerate(code):
            for ch in ALNUM36 + "-":
                if ch != original:
                    with pytest.raises(InputError):
                        validate_uscc(code[:i] + ch + code[i + 1 :])


def test_uscc_adjacent_transpositions_rejected() -> None:
    # Weights 3^k mod 31 (check position weight 1) differ between neighbours, modulus prime.
    for code in PUBLISHED_USCCS:
        for i in range(17):
            if code[i] != code[i + 1]:
                with pytest.raises(InputError):
                    validate_uscc(code[:i] + code[i + 1] + code[i] + code[i + 2 :])


def test_uscc_alphabet() -> None:
    assert len(USCC_ALPHABET) == 31
    assert set(ALNUM36) - set(USCC_ALPHABET) == set("IOZSV")


@pytest.mark.parametrize("letter", "IOZSV")
def test_uscc_forbidden_letters(letter: str) -> None:
    with pytest.raises(InputError, match=f"character 9 is '{letter}'"):
        validate_uscc("91350100" + letter + "000100Y43")


@pytest.mark.parametrize(
    ("first16", "reason"),
    [
        ("B1350100M000100Y", "registration authority code 'B' is not assigned"),
        ("94350100M000100Y", "organisation type code '4' is not assigned"),
        ("Y2350100M000100Y", "organisation type code '2' is not assigned"),
        ("91A50100M000100Y", "division code"),
    ],
)
def test_uscc_structure_checks(first16: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        validate_uscc(uscc_with_checks(first16))


def test_uscc_embedded_organisation_code_checked() -> None:
    body = "91350100M000100Y5"  # wrong organisation-code check, correct final check
    with pytest.raises(InputError, match="organisation code check character is '5', expected '4'"):
        validate_uscc(body + uscc_check_char(body))


def test_every_listed_authority_and_type_is_accepted() -> None:
    for authority, types in USCC_ORG_TYPES.items():
        for org_type in types:
            code = make_uscc(authority, org_type, "110000", "MA01AB2C")
            assert validate_uscc(code) == code


@pytest.mark.parametrize(
    "args",
    [
        ("9", "4", "350100", "M000100Y"),
        ("Q", "1", "350100", "M000100Y"),
        ("91", "1", "350100", "M000100Y"),
        ("9", "", "350100", "M000100Y"),
        ("9", "1", "35010", "M000100Y"),
        ("9", "1", "3501X0", "M000100Y"),
        ("9", "1", "350100", "M000I00Y"),
        ("9", "1", "350100", "M000100"),
    ],
)
def test_make_uscc_rejects_bad_parts(args: tuple[str, str, str, str]) -> None:
    with pytest.raises(InputError):
        make_uscc(*args)


def test_make_uscc_normalises_case() -> None:
    assert make_uscc("9", "1", "350100", "m000100y") == GB32100_EXAMPLE


def test_uscc_length_and_type() -> None:
    with pytest.raises(InputError, match="18 characters, got 17"):
        validate_uscc(GB32100_EXAMPLE[:17])
    with pytest.raises(InputError):
        validate_uscc(None)  # type: ignore[arg-type]


# --- Holder IDs -------------------------------------------------------------------------


def test_holder_id_type_codes() -> None:
    assert HolderIdType.CITIZEN_ID == "111"
    assert HolderIdType.USCC == "001"
    assert HolderIdType("001") is HolderIdType.USCC


def test_validate_holder_id() -> None:
    lower = GB11643_SAMPLE.lower()
    assert validate_holder_id(HolderIdType.CITIZEN_ID, lower) == GB11643_SAMPLE
    assert validate_holder_id("111", lower) == GB11643_SAMPLE
    assert validate_holder_id("001", GB32100_EXAMPLE.lower()) == GB32100_EXAMPLE
    with pytest.raises(InputError):
        validate_holder_id(HolderIdType.USCC, GB11643_SAMPLE)
    with pytest.raises(InputError, match="unknown holder ID type"):
        validate_holder_id("999", GB11643_SAMPLE)


def test_swapped_holder_arguments_do_not_leak() -> None:
    with pytest.raises(InputError) as info:
        validate_holder_id(GB11643_SAMPLE, "111")
    assert_no_citizen_id(str(info.value), GB11643_SAMPLE)


def test_mask_holder_id() -> None:
    assert mask_holder_id(HolderIdType.CITIZEN_ID, GB11643_SAMPLE) == "1****************X"
    assert mask_holder_id("111", GB11643_SAMPLE.lower()) == "1****************X"
    assert mask_holder_id("001", GB32100_EXAMPLE) == GB32100_EXAMPLE
    assert mask_holder_id("111", "12") == "**"
    with pytest.raises(InputError):
        mask_holder_id("002", GB32100_EXAMPLE)


# --- Licence identifiers ----------------------------------------------------------------

AUTHORITY_USCC = make_uscc("1", "1", "110000", "MB000001")
TYPE_CODE = AUTHORITY_USCC + "001"
ISSUER = GB32100_EXAMPLE


def test_licence_identifier_format() -> None:
    ident = LicenceIdentifier.build(TYPE_CODE, ISSUER, 12345)
    text = str(ident)
    assert text.startswith(LICENCE_ID_PREFIX)
    fields = text[len(LICENCE_ID_PREFIX) :].split(".")
    assert fields[:4] == [TYPE_CODE, ISSUER, "12345", "001"]
    assert fields[4] == ident.check == iso7064_mod37_36_check(TYPE_CODE + ISSUER + "12345001")
    # Pinned so the layout cannot drift silently (check from the vector-tested MOD 37,36).
    assert text == "1.2.156.3005.2.11110000MB0000019Q001.91350100M000100Y43.12345.001.K"


@pytest.mark.parametrize("serial", [1, 9, 10, 12345, 10**19, 10**20 - 1])
@pytest.mark.parametrize("version", [1, 7, 42, 999])
def test_licence_round_trip(serial: int, version: int) -> None:
    ident = LicenceIdentifier.build(TYPE_CODE.lower(), ISSUER.lower(), serial, version)
    assert ident.type_code == TYPE_CODE and ident.issuer_uscc == ISSUER
    text = str(ident)
    assert len(text) <= MAX_LICENCE_ID_LENGTH
    parsed = parse_licence_identifier(text)
    assert parsed == ident and str(parsed) == text
    assert parse_licence_identifier(f" {text.lower()}\n") == ident


def test_licence_wrong_check_message() -> None:
    text = str(LicenceIdentifier.build(TYPE_CODE, ISSUER, 12345))
    with pytest.raises(InputError) as info:
        parse_licence_identifier(text[:-1] + "Q")
    assert str(info.value) == "licence identifier check character is 'Q', expected 'K'"


def test_licence_every_single_substitution_rejected() -> None:
    text = str(LicenceIdentifier.build(TYPE_CODE, ISSUER, 90817263, 3))
    for i, original in enumerate(text):
        for ch in ALNUM36 + ".-":
            if ch != original:
                with pytest.raises(InputError):
                    parse_licence_identifier(text[:i] + ch + text[i + 1 :])


def test_licence_adjacent_transpositions() -> None:
    # The USCC parts catch every swap (GB 32100); serial and version rely on the hybrid
    # MOD 37,36 check, which can only miss swaps of characters with consecutive values.
    escaped = []
    for serial in (90817263, 1234567890, 5, 48):
        text = str(LicenceIdentifier.build(TYPE_CODE, ISSUER, serial, 123))
        for i in range(len(text) - 1):
            a, b = text[i], text[i + 1]
            if a == b:
                continue
            try:
                parse_licence_identifier(text[:i] + b + a + text[i + 2 :])
            except InputError:
                continue
            diff = abs(ALNUM36.index(a) - ALNUM36.index(b))
            assert diff in (1, 35), (text, i)
            start = len(LICENCE_ID_PREFIX) + 21 + 1 + 18 + 1
            assert i >= start, "a swap inside a USCC escaped"
            escaped.append((serial, a + b))
    # Known blind spot: serial 48, version 123 -> 132 keeps the same check character.
    assert escaped == [(48, "23")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.2.156.3005.3." + TYPE_CODE, "must start with"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.001", "5 fields"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.001.K.X", "5 fields"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".012.001.K", "must not start with 0"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".0.001.K", "must not start with 0"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + "." + "1" * 21 + ".001.K", "1 to 20"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + "..001.K", "1 to 20"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.01.K", "exactly 3 digits"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.0001.K", "exactly 3 digits"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.000.K", "from 1 to 999"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.001.KK", "check field"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER + ".1.001.*", "check field"),
        (LICENCE_ID_PREFIX + TYPE_CODE[:20] + "." + ISSUER + ".1.001.K", "21 characters"),
        (LICENCE_ID_PREFIX + AUTHORITY_USCC + "00A." + ISSUER + ".1.001.K", "3 digits"),
        (LICENCE_ID_PREFIX + "B" + TYPE_CODE[1:] + "." + ISSUER + ".1.001.K", "type code"),
        (LICENCE_ID_PREFIX + TYPE_CODE + "." + ISSUER[:17] + "4.1.001.K", "issuer: USCC"),
        (LICENCE_ID_PREFIX + "1" * 120, "too long"),
    ],
)
def test_licence_parse_errors(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        parse_licence_identifier(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("serial", "version"),
    [(0, 1), (-1, 1), (10**20, 1), (True, 1), ("12", 1), (1, 0), (1, 1000), (1, True)],
)
def test_licence_build_rejects_bad_numbers(serial: object, version: object) -> None:
    with pytest.raises(InputError):
        LicenceIdentifier.build(TYPE_CODE, ISSUER, serial, version)  # type: ignore[arg-type]


def test_licence_constructor_requires_canonical_parts() -> None:
    with pytest.raises(InputError, match="canonical"):
        LicenceIdentifier(TYPE_CODE, ISSUER.lower(), 1)
    with pytest.raises(InputError, match="canonical"):
        LicenceIdentifier(TYPE_CODE.lower(), ISSUER, 1)
    with pytest.raises(InputError):
        LicenceIdentifier(TYPE_CODE, ISSUER[:17] + "4", 1)


def test_licence_parse_rejects_non_text() -> None:
    with pytest.raises(InputError):
        parse_licence_identifier(None)  # type: ignore[arg-type]
