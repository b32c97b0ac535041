"""PAdES baseline levels (cheap to import: the CLI names them in its options)."""

from __future__ import annotations

from enum import StrEnum


class PadesLevel(StrEnum):
    """ETSI EN 319 142-1 baseline levels this service produces."""

    B_T = "B-T"  # signature timestamp from the region's TSA
    B_LT = "B-LT"  # plus the DSS: every certificate, OCSP response and CRL a validator needs
    B_LTA = "B-LTA"  # plus a document timestamp over all of it

    @property
    def embeds_validation_data(self) -> bool:
        return self is not PadesLevel.B_T
