"""Every filled signature field of a PDF, so that none escapes judgement.

pyHanko lists only signature values it can validate (a `/Type` of `/Sig` or
`/DocTimeStamp`, a known `/SubFilter`, a non-empty dictionary) and skips the rest; its
change analysis then counts filling a signature field as allowed form filling. A forged
"seal" in an empty seal position (a copied stamp image and a value pyHanko skips) would
then show on the page while only the genuine seals are judged. So every signature field
with a value must be one of the signatures actually judged.

Public API: filled_signature_fields(root) -> list[FilledField].
"""

from __future__ import annotations

from dataclasses import dataclass

from pyhanko.pdf_utils import generic

MAX_FIELDS = 10_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class FilledField:
    name: str
    # The value's object reference; None when the value is written inline (never ours).
    value: generic.Reference | None


def filled_signature_fields(root: generic.DictionaryObject) -> list[FilledField]:
    """Each signature field (`/FT /Sig`, inherited too) whose `/V` is not null."""
    acro_form = _resolved(root.get("/AcroForm"))
    if not isinstance(acro_form, generic.DictionaryObject):
        return []
    fields = _resolved(acro_form.get("/Fields"))
    if not isinstance(fields, generic.ArrayObject):
        return []
    found: list[FilledField] = []
    seen: set[generic.Reference] = set()
    pending: list[tuple[generic.PdfObject, str, object, int]] = [
        (entry, "", None, 0) for entry in fields
    ]
    visited = 0
    while pending:
        entry, parent_name, inherited_type, depth = pending.pop()
        visited += 1
        if visited > MAX_FIELDS or depth > MAX_DEPTH:
            raise ValueError("the form's field tree is too large or too deep")
        if isinstance(entry, generic.IndirectObject):
            if entry.reference in seen:
                continue
            seen.add(entry.reference)
        field = entry.get_object()
        if not isinstance(field, generic.DictionaryObject):
            continue
        partial = _resolved(field.get("/T"))
        name = (
            f"{parent_name}.{partial}" if parent_name and partial else str(partial or parent_name)
        )
        field_type = _resolved(field.get("/FT", inherited_type))
        if field_type == "/Sig" and "/V" in field:
            raw = field.raw_get("/V")
            if isinstance(raw, generic.IndirectObject):
                if not isinstance(raw.get_object(), generic.NullObject):
                    found.append(FilledField(name, raw.reference))
            elif not isinstance(raw, generic.NullObject):
                found.append(FilledField(name, None))
        kids = _resolved(field.get("/Kids"))
        if isinstance(kids, generic.ArrayObject):
            pending.extend((kid, name, field_type, depth + 1) for kid in kids)
    return found


def _resolved(value: object) -> object:
    """`dict.get` on a pyHanko dictionary returns indirect references unresolved."""
    return value.get_object() if isinstance(value, generic.IndirectObject) else value
