"""Imports every model module so that ``Base.metadata`` knows every table (alembic, tests)."""

from app import audit
from app.auth import models as auth_models
from app.db import Base
from app.reference import models as reference_models
from clearance import models as clearance_models
from geo import import_models
from survey import models as survey_models
from survey.nts import models as nts_models
from tasks import models as tasks_models

metadata = Base.metadata

__all__ = [
    "audit",
    "auth_models",
    "clearance_models",
    "import_models",
    "metadata",
    "nts_models",
    "reference_models",
    "survey_models",
    "tasks_models",
]
