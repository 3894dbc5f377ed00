"""The teacher's config page. See docs/web.md.

Nothing is imported here: ``appliance.web.auth`` must stay importable with the
standard library alone (the installer uses it before anything else is set up).
"""
