"""A service's Kafka login comes from its settings, complete or refused with the reason."""

import pytest
from aiokafka.errors import KafkaConnectionError
from faststream.security import SASLScram512
from pydantic import ValidationError

from services.public_works.bootstrap import build
from services.runtime import main
from services.runtime.kafka import TopicsMissing
from services.runtime.kafka_login import broker_security, client_login
from services.runtime.settings import DEV_API_TOKENS, Settings, load_settings

pytestmark = pytest.mark.unit


def settings(**env: str) -> Settings:
    return Settings.model_validate(env)


def test_without_a_login_the_service_connects_in_plaintext() -> None:
    plain = settings()
    assert client_login(plain) == {}
    assert broker_security(plain) is None


def test_a_login_defaults_to_scram_over_tls() -> None:
    secured = settings(KAFKA_SASL_USERNAME="public_works", KAFKA_SASL_PASSWORD="s3cret")
    login = client_login(secured)
    assert login["security_protocol"] == "SASL_SSL"
    assert login["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (login["sasl_plain_username"], login["sasl_plain_password"]) == (
        "public_works", "s3cret")
    assert login["ssl_context"] is not None
    security = broker_security(secured)
    assert isinstance(security, SASLScram512) and security.use_ssl


def test_sasl_plaintext_sends_no_tls_context() -> None:
    login = client_login(settings(KAFKA_SASL_USERNAME="education", KAFKA_SASL_PASSWORD="pw",
                                  KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT"))
    assert login["security_protocol"] == "SASL_PLAINTEXT"
    assert "ssl_context" not in login


@pytest.mark.parametrize(("env", "reason"), [
    ({"KAFKA_SASL_USERNAME": "social"}, "KAFKA_SASL_PASSWORD is not"),
    ({"KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_USERNAME is not"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_USERNAME"),
    ({"KAFKA_SASL_USERNAME": "social", "KAFKA_SASL_PASSWORD": "pw",
      "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "PLAINTEXT (no login)"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "KAFKA_SECURITY_PROTOCOL"),
])
def test_an_incomplete_or_contradictory_login_is_refused_naming_the_variable(
    env: dict[str, str], reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**env)
    assert reason in str(refused.value)


def test_the_password_never_shows_in_the_settings_repr() -> None:
    assert "s3cret" not in repr(settings(KAFKA_SASL_USERNAME="x", KAFKA_SASL_PASSWORD="s3cret"))


def test_a_service_with_a_bad_setting_exits_with_the_variable_and_reason(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "social")
    monkeypatch.setenv("SINERGI_BATCH_LANES", "two")
    with pytest.raises(SystemExit) as exited:
        load_settings()
    assert "SINERGI_BATCH_LANES" in str(exited.value.code)
    assert "valid integer" in str(exited.value.code)


def test_a_service_the_broker_refuses_exits_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*args: object) -> None:
        raise TopicsMissing("sinergi.social.housing: not on the broker")

    monkeypatch.setattr(main, "serve", refused)
    monkeypatch.setattr(main, "tune_gc", lambda: None)
    monkeypatch.setattr(main, "configure_logging", lambda *args: None)
    with pytest.raises(SystemExit) as exited:
        main.run(build(), settings())
    assert str(exited.value.code) == ("public_works: the Kafka broker refused this service: "
                                      "TopicsMissing: sinergi.social.housing: not on the broker")


def test_a_service_that_cannot_connect_exits_naming_the_broker_and_its_login(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*args: object) -> None:
        raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")

    monkeypatch.setattr(main, "serve", unreachable)
    monkeypatch.setattr(main, "tune_gc", lambda: None)
    monkeypatch.setattr(main, "configure_logging", lambda *args: None)
    login = settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092", KAFKA_SASL_USERNAME="public_works",
                     KAFKA_SASL_PASSWORD="wrong")
    with pytest.raises(SystemExit) as exited:
        main.run(build(), login)
    assert str(exited.value.code) == (
        "public_works: could not connect to Kafka at 127.0.0.1:9092 (it is down or "
        "unreachable, or it refused the login of 'public_works')")


@pytest.mark.parametrize(("env", "variable"), [
    ({"SINERGI_LOG_LEVEL": "verbose"}, "SINERGI_LOG_LEVEL"),
    ({"SINERGI_METRICS_PORT": "abc"}, "SINERGI_METRICS_PORT"),
    ({"SINERGI_METRICS_PORT": "70000"}, "SINERGI_METRICS_PORT"),
    ({"SINERGI_HTTP_PORT": "-1"}, "SINERGI_HTTP_PORT"),
    ({"SINERGI_API_TOKENS": "social:abc,education"}, "SINERGI_API_TOKENS"),
    ({"SINERGI_API_TOKENS": "social:same,operators:same"}, "SINERGI_API_TOKENS"),
    ({"SINERGI_POVERTY_LINE": "0"}, "SINERGI_POVERTY_LINE"),
    ({"SINERGI_POVERTY_LINE": "-5"}, "SINERGI_POVERTY_LINE"),
    ({"SINERGI_REPLICATION_FACTOR": "0"}, "SINERGI_REPLICATION_FACTOR"),
    ({"DATABASE_URL": "mysql://root:secret@db/sinergi"}, "DATABASE_URL"),
])
def test_a_bad_setting_is_refused_at_start_naming_the_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**env)
    assert variable in str(refused.value)


def test_a_token_list_refusal_does_not_echo_a_part_that_may_be_a_bare_token() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(SINERGI_API_TOKENS="social:abc,9f8e7d-bare-token")
    assert "part 2 is not agency:token" in str(refused.value)
    assert "9f8e7d" not in str(refused.value)


def test_the_log_level_is_read_in_any_case() -> None:
    assert settings(SINERGI_LOG_LEVEL="debug").log_level == "DEBUG"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # compose passes ${SINERGI_API_TOKENS:-} as an empty value when the deployer sets none
    for name in ("SINERGI_API_TOKENS", "SINERGI_LOG_LEVEL", "KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.setenv(name, "")
    loaded = Settings()
    assert loaded.api_tokens.get_secret_value() == DEV_API_TOKENS
    assert loaded.log_level == "INFO" and loaded.kafka_security_protocol is None


def test_a_plain_postgresql_url_gets_the_asyncpg_driver_and_a_refusal_hides_the_password(
) -> None:
    assert settings(DATABASE_URL="postgresql://u:p@db:5432/s").database_url == (
        "postgresql+asyncpg://u:p@db:5432/s")
    assert settings(DATABASE_URL="postgres://u:p@db/s").database_url == (
        "postgresql+asyncpg://u:p@db/s")
    # A provider's libpq URL: asyncpg takes the same mode as ssl=, not sslmode=.
    assert settings(DATABASE_URL="postgresql://u:p%40ss@db/s?sslmode=require").database_url == (
        "postgresql+asyncpg://u:p%40ss@db/s?ssl=require")
    with pytest.raises(ValidationError) as refused:
        settings(DATABASE_URL="mysql://root:hunter2@db/sinergi")
    assert "hunter2" not in str(refused.value)
