"""Files the server publishes under var/ for offline verifiers to copy."""

from __future__ import annotations

from govtrust.settings import Settings


def write_trust_list_file(settings: Settings, jws: str) -> None:
    """Replace var/trust-list.jws atomically: a reader sees the old list or the new one."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.trust_list_path.with_suffix(".tmp")
    tmp.write_text(jws + "\n")
    tmp.replace(settings.trust_list_path)
