from services.education.bootstrap import build
from services.runtime.main import run
from services.runtime.settings import load_settings

run(build(), load_settings())
