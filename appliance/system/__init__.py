"""Running as an appliance: the daemon and what keeps it healthy.

- :mod:`~appliance.app.daemon`: ``parlo daemon`` (and ``parlo run``), composing everything;
- :mod:`~appliance.system.notify`: systemd readiness, status and watchdog (sd_notify);
- :mod:`~appliance.system.journal`: logging to journald;
- :mod:`~appliance.audio.supervised`: surviving a USB microphone unplugged and replugged;
- :mod:`~appliance.system.doctor`: ``parlo doctor``;
- :mod:`~appliance.app.fake_engine`: an engine without models, for tests and wiring checks.
"""
