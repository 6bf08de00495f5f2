"""The browser tests' site server: production settings plus fresh content types.

Transactional tests flush the database after each test, and Django then
recreates the content types under new ids; the server process, shared by the
whole session, would keep the ids it cached first and log an admin change
(``LogEntry``) under an id that no longer exists. The only difference from
production is that this server forgets them at every request.
"""

from config.settings import *  # noqa: F403  (the production settings, unchanged)
from config.settings import MIDDLEWARE

MIDDLEWARE = ["tests.portal.site_middleware.fresh_content_types", *MIDDLEWARE]
