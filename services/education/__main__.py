from services.education.bootstrap import build
from services.runtime.main import run
from services.runtime.settings import Settings

run(build(), Settings())
