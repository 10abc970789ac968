"""Admin of the LMS integrations: API keys, webhooks (lms/api/admin.py) and LTI
registrations (lms/lti/admin.py). The admin autodiscovers only <app>.admin."""

from lms.api import admin as api_admin  # noqa: F401
from lms.lti import admin as lti_admin  # noqa: F401
