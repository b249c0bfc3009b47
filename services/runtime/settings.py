"""Settings from the environment; nothing connects at import time."""

import sys
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Development default only: a deployment sets SINERGI_PSEUDONYM_KEY from its secret store.
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-not-for-production"
# Development defaults only: a deployment sets SINERGI_API_TOKENS (agency:token pairs).
DEV_API_TOKENS = ",".join(f"{agency}:dev-only-{agency}-token-not-for-production" for agency in (
    "social", "public_works", "education", "operators",
    "dinsos-case-system", "pupr-field-system", "school-systems"))


class Settings(BaseSettings):
    # An error names the variable, never its value: some hold keys, passwords and tokens.
    # An empty variable is an unset one (compose's ${VAR:-} passes an unset value as empty).
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", hide_input_in_errors=True,
                                      env_ignore_empty=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias="KAFKA_SASL_USERNAME",
        description="The service's own principal on a secured broker (SASL/SCRAM-SHA-512); "
                    "unset: no login",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None, validation_alias="KAFKA_SECURITY_PROTOCOL",
        description="Default: SASL_SSL with a login, PLAINTEXT without",
    )
    kafka_ssl_cafile: str | None = Field(
        default=None, validation_alias="KAFKA_SSL_CAFILE",
        description="CA certificates for SASL_SSL; unset: the system's",
    )
    database_url: str = Field(
        default="postgresql+asyncpg://sinergi:sinergi@127.0.0.1:5432/sinergi",
        validation_alias="DATABASE_URL",
    )
    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEV_PSEUDONYM_KEY), validation_alias="SINERGI_PSEUDONYM_KEY"
    )
    pseudonym_previous_keys: SecretStr = Field(
        default=SecretStr(""), validation_alias="SINERGI_PSEUDONYM_PREVIOUS_KEYS",
        description="Retired pseudonym keys, comma-separated, during a key rotation",
    )
    poverty_line: int = Field(
        default=4_543_264, gt=0, validation_alias="SINERGI_POVERTY_LINE",
        description="Rupiah per poor household per month (BPS Kaltim, September 2024)",
    )
    replication_factor: int = Field(default=1, ge=1, validation_alias="SINERGI_REPLICATION_FACTOR")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias="SINERGI_LOG_LEVEL")
    relay_poll_seconds: float = Field(
        default=0.5, gt=0, validation_alias="SINERGI_RELAY_POLL_SECONDS",
        description="Seconds between outbox polls; a commit in the same process wakes the "
                    "relay at once, the poll finds rows other processes committed",
    )
    relay_process: bool = Field(
        default=True, validation_alias="SINERGI_RELAY_PROCESS",
        description="Run the outbox relay in a process of its own, started and watched by "
                    "the service's (services/runtime/relay_process.py), the consumers' "
                    "process then SCHED_BATCH. In one event loop the consumers' Python kept "
                    "the relay from reading its acknowledgements; draining alone, Public "
                    "Works and Education were 0.45-0.55 of the bare loop without it, "
                    "0.47-0.61 with it, and p99 latency stayed under 200 ms (bench/README). "
                    "It costs each service about 110 MiB more. false: one process",
    )
    batch_size: int = Field(
        default=1000, ge=1, validation_alias="SINERGI_BATCH_SIZE",
        description="Most records a consumer takes from Kafka at once; it handles them in "
                    "one transaction per lane",
    )
    batch_lanes: int = Field(
        default=2, ge=1, validation_alias="SINERGI_BATCH_LANES",
        description="Most transactions a consumer's batch is split into, by record key, and "
                    "handled side by side (a key's records stay in one, in order; a lane "
                    "gets at least 200 records): while one waits on PostgreSQL, another's "
                    "Python runs",
    )
    batch_pipeline: bool = Field(
        default=True, validation_alias="SINERGI_BATCH_PIPELINE",
        description="Start a fetched batch while the one before it is still committing (at "
                    "most two in flight; a batch sharing a key with the one in flight waits "
                    "for it; offsets committed in batch order; services/runtime/pipeline.py). "
                    "false: one batch at a time",
    )
    relay_batch_size: int = Field(
        default=2000, ge=1, validation_alias="SINERGI_RELAY_BATCH_SIZE",
        description="Most outbox rows the relay sends in one round (Dinsos emits about four "
                    "events per record it handles: a round of 500 fell behind)",
    )
    batch_wait_ms: int = Field(
        default=1000, ge=1, validation_alias="SINERGI_BATCH_WAIT_MS",
        description="Most milliseconds a consumer's poll waits for records; records that "
                    "arrive end the wait at once (services/runtime/service.py, "
                    "wait_for_records)",
    )
    offset_commit_ms: int = Field(
        default=250, ge=0, validation_alias="SINERGI_OFFSET_COMMIT_MS",
        description="Least milliseconds between two offset commits of a consumer; the "
                    "batches finished meanwhile are committed together (records not yet "
                    "committed are read again after a crash and dropped by the inbox)",
    )
    sent_outbox_keep_hours: float = Field(
        default=24.0, gt=0, validation_alias="SINERGI_SENT_OUTBOX_KEEP_HOURS",
        description="Hours a sent row stays in the intake API's outbox (it holds NIK and "
                    "KK numbers as posted) before the relay deletes it",
    )
    metrics_host: str = Field(default="127.0.0.1", validation_alias="SINERGI_METRICS_HOST")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias="SINERGI_METRICS_PORT",
        description="Port of /livez, /readyz and /metrics; unset: no server; 0: any free port",
    )
    http_host: str = Field(default="127.0.0.1", validation_alias="SINERGI_HTTP_HOST")
    http_port: int = Field(default=8080, ge=0, le=65535, validation_alias="SINERGI_HTTP_PORT")
    api_tokens: SecretStr = Field(
        default=SecretStr(DEV_API_TOKENS), validation_alias="SINERGI_API_TOKENS",
        description="Comma-separated agency:token pairs for the HTTP endpoints",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str) -> str:
        # A plain PostgreSQL URL is what most tools hand out: it gets the driver SQLAlchemy
        # needs here. Any other database was a ModuleNotFoundError at the first connect.
        for plain in ("postgresql://", "postgres://"):
            if value.startswith(plain):
                value = "postgresql+asyncpg://" + value[len(plain):]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a PostgreSQL URL: postgresql+asyncpg://user:password@"
                             "host:port/database (postgresql:// is taken as that)")
        url = make_url(value)
        if "sslmode" in url.query:  # libpq's name; asyncpg takes the same values as ssl=
            url = url.difference_update_query(["sslmode"]).update_query_dict(
                {"ssl": url.query["sslmode"]})
            return url.render_as_string(hide_password=False)
        return value

    @field_validator("api_tokens")
    @classmethod
    def _tokens_parse(cls, value: SecretStr) -> SecretStr:
        # Checked at start-up: parsed only when the HTTP server starts, a bad value ended
        # that task alone while the service ran on without its API.
        from services.runtime.auth import parse_tokens

        parse_tokens(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _login_complete(self) -> Self:
        if self.kafka_sasl_username and self.kafka_sasl_password is None:
            raise ValueError("KAFKA_SASL_USERNAME is set but KAFKA_SASL_PASSWORD is not")
        if self.kafka_sasl_password is not None and not self.kafka_sasl_username:
            raise ValueError("KAFKA_SASL_PASSWORD is set but KAFKA_SASL_USERNAME is not")
        if (self.kafka_security_protocol or "").startswith("SASL") and not self.kafka_sasl_username:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        if self.kafka_security_protocol == "PLAINTEXT" and self.kafka_sasl_username:
            raise ValueError("KAFKA_SASL_USERNAME is set but KAFKA_SECURITY_PROTOCOL is "
                             "PLAINTEXT (no login)")
        return self


def describe(exc: ValidationError) -> str:
    """Each bad setting on a line of its own: the variable and why."""
    return "configuration error:\n" + "\n".join(
        f"  {'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
        for e in exc.errors())


def load_settings() -> Settings:
    """The settings of a service process; a bad value exits naming the variable and why."""
    try:
        return Settings()
    except ValidationError as exc:
        sys.exit(describe(exc))
