from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The site every user signs in to: home, models, keys, playground."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"
    verbose_name = "Site"
