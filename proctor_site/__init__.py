"""Proctor's Django project package; importing it makes the Celery app available."""

from proctor_site.celery import app as celery_app

__all__ = ("celery_app",)
