"""Identity-token benchmark: tokens verified per second (trust list already loaded) beside
raw ECDSA P-256 verifies per second, in the same run.

    .venv/bin/python -m bench.identity
"""

from __future__ import annotations

import json

from bench.common import Row, bench_federation, print_table, rate, raw_ecdsa_verify_rate
from identity.signin import grant
from verifier.identity_token import verify_identity_token
from verifier.timeutil import utc_now
from verifier.trust_list import verify_trust_list


def main() -> None:
    runtime = bench_federation()
    settings = runtime.settings
    fingerprint = settings.root_fingerprint_path.read_text().strip()
    trust_list = verify_trust_list(settings.trust_list_path.read_bytes(), fingerprint)
    issuer = runtime.identity_issuer("330000")
    token = issuer.issue("sub-bench", "https://services.example", ["citizen"], "loa3")
    at = utc_now()
    audience = "https://services.example"
    verified = rate(lambda: verify_identity_token(token, trust_list, audience=audience, at=at))
    issued = rate(lambda: issuer.issue("sub-bench", audience, ["citizen"], "loa3"))
    raw = raw_ecdsa_verify_rate()
    listing = json.loads((settings.var_dir / "dev-accounts.json").read_text())
    auditor = next(e for e in listing["330000"] if "auditor" in e.get("roles", []))
    with runtime.database.transaction() as session:
        sign_ins = rate(
            lambda: grant(
                session,
                runtime.data_protector,
                issuer,
                "password",
                username=auditor["login"],
                password=auditor["password"],
            ),
            seconds=2.0,
        )
    print_table(
        "identity tokens (ES256, trust list loaded)",
        [
            Row("raw ECDSA P-256 verify", f"{raw:,.0f}/s", "cryptography, same run"),
            Row(
                "identity token verify",
                f"{verified:,.0f}/s",
                f"{raw / verified:.2f}x slower than raw (target within 3x)",
            ),
            Row("identity token issue", f"{issued:,.0f}/s", "file key store"),
            Row(
                "sign-in (password grant, in process)",
                f"{sign_ins:,.0f}/s",
                "argon2id 19 MiB x 2 passes + refresh token + token; one core",
            ),
            Row("token size", f"{len(token)} bytes", "x5c = [signer, region CA]"),
        ],
    )


if __name__ == "__main__":
    main()
