"""All of govtrust's settings, read once from the environment (prefix GOVTRUST_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVTRUST_", extra="ignore")

    home: Path = Field(default_factory=Path.cwd, description="root of var/ and keys-dev/")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file var/govtrust.db"
    )
    dev_mode: bool = Field(default=True, description="allow dev keys from keys-dev/")
    key_passphrase: SecretStr | None = Field(default=None, description="passphrase of key files")
    key_passphrase_file: Path | None = Field(default=None, description="file holding it")
    key_dir: Path | None = Field(default=None, description="file key store; dev: keys-dev/store")
    data_key: SecretStr | None = Field(
        default=None, description="hex data-protection key (32 bytes)"
    )
    pkcs11_module: str | None = Field(default=None, description="PKCS#11 module (.so) path")
    pkcs11_token: str | None = Field(default=None, description="PKCS#11 token label")
    pkcs11_pin: SecretStr | None = Field(default=None, description="PKCS#11 user PIN")
    pkcs11_pin_file: Path | None = Field(default=None, description="file holding it")
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, description="largest licence PDF the co-seal route takes"
    )
    max_request_bytes: int = Field(
        default=1024 * 1024, description="largest body of any other request (JSON, forms)"
    )
    web_upload_bytes: int = Field(
        default=10 * 1024 * 1024, description="largest file the public verification page takes"
    )
    web_bundle_seconds: float = Field(
        default=5.0, description="how long the verification page reuses the exported bundle"
    )

    @property
    def var_dir(self) -> Path:
        return self.home / "var"

    @property
    def dev_keys_dir(self) -> Path:
        return self.home / "keys-dev"

    @property
    def effective_key_dir(self) -> Path:
        return self.key_dir or self.dev_keys_dir / "store"

    @property
    def trust_list_path(self) -> Path:
        return self.var_dir / "trust-list.jws"

    @property
    def root_fingerprint_path(self) -> Path:
        return self.var_dir / "root.sha256"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'govtrust.db'}"

    def key_passphrase_bytes(self) -> bytes | None:
        """The key-store passphrase: environment first, then a secret file, then dev keys."""
        if self.key_passphrase:
            return self.key_passphrase.get_secret_value().encode()
        if self.key_passphrase_file:
            return self.key_passphrase_file.read_bytes().strip()
        dev_file = self.dev_keys_dir / "passphrase"
        if self.dev_mode and dev_file.exists():
            return dev_file.read_bytes().strip()
        return None

    def pkcs11_pin_value(self) -> str | None:
        """The PKCS#11 user PIN: environment first, then a secret file."""
        if self.pkcs11_pin:
            return self.pkcs11_pin.get_secret_value()
        if self.pkcs11_pin_file:
            return self.pkcs11_pin_file.read_text().strip()
        return None

    def data_key_hex(self) -> str | None:
        if self.data_key:
            return self.data_key.get_secret_value()
        dev_file = self.dev_keys_dir / "data.key"
        if self.dev_mode and dev_file.exists():
            return dev_file.read_text().strip()
        return None
