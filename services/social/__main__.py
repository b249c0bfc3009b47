from services.runtime.main import run
from services.runtime.settings import load_settings
from services.social.bootstrap import build
from services.social.pseudonym import parse_keys

settings = load_settings()
run(build(settings.pseudonym_key.get_secret_value().encode(), settings.poverty_line,
          parse_keys(settings.pseudonym_previous_keys.get_secret_value())), settings)
