from services.intake_api.api import create_app
from services.intake_api.bootstrap import build
from services.runtime.main import run, serving_http
from services.runtime.settings import load_settings

settings = load_settings()
run(build(), settings, serving_http(create_app, settings))
