from services.runtime.main import run, serving_http
from services.runtime.settings import load_settings
from services.timeline.api import create_app
from services.timeline.bootstrap import build

settings = load_settings()
run(build(), settings, serving_http(lambda runtime: create_app(runtime.engine), settings))
