from services.runtime.main import run
from services.runtime.settings import Settings
from services.social.bootstrap import build

settings = Settings()
run(build(settings.pseudonym_key.get_secret_value().encode(), settings.poverty_line), settings)
