from services.public_works.bootstrap import build
from services.runtime.main import run
from services.runtime.settings import Settings

run(build(), Settings())
