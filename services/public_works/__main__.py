import os
import sys

from services.public_works.bootstrap import build
from services.public_works.config import DUE_DAYS_ENV, DueDaysError, parse_due_days
from services.runtime.main import run
from services.runtime.settings import load_settings

try:
    due_days = parse_due_days(os.environ.get(DUE_DAYS_ENV, ""))
except DueDaysError as exc:
    sys.exit(f"{DUE_DAYS_ENV}: {exc}")

run(build(due_days), load_settings())
