from services.runtime.main import run, serving_http
from services.runtime.settings import Settings
from services.timeline.api import create_app
from services.timeline.bootstrap import build

settings = Settings()
run(build(), settings, serving_http(lambda runtime: create_app(runtime.engine), settings))
