"""What an offline verifier remembers between runs: the newest trust list it accepted.

Kept per pinned root, so a replayed older list (authentic, but with withdrawn services
still granted) is refused once a newer one has been seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from verifier.errors import InputError


class VerifierState:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            raise InputError(f"verifier state file {self.path} is unreadable") from None
        sequences = data.get("trust_list_sequence") if isinstance(data, dict) else None
        if not isinstance(sequences, dict) or not all(
            isinstance(v, int) for v in sequences.values()
        ):
            raise InputError(f"verifier state file {self.path} is malformed")
        return sequences

    def highest_sequence(self, root_fingerprint: str) -> int | None:
        return self._load().get(root_fingerprint)

    def record(self, root_fingerprint: str, sequence: int) -> None:
        sequences = self._load()
        if sequences.get(root_fingerprint, 0) >= sequence:
            return
        sequences[root_fingerprint] = sequence
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"trust_list_sequence": sequences}, indent=2) + "\n")
        os.replace(tmp, self.path)
