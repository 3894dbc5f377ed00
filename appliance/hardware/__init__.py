"""The box's physical interface: the big button, the status LED, and the gesture controller.

- :mod:`~appliance.hardware.buttons`: GPIO (gpiozero), a USB key (evdev), the terminal;
- :mod:`~appliance.hardware.leds`: GPIO PWM or RGB LEDs, kernel LEDs (sysfs), the patterns;
- :mod:`~appliance.app.controller`: gestures (hold, tap, holds, double tap) → engine calls.
"""
