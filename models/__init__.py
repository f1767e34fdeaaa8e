"""Personalized glucose forecasting and vitals baselines, trained offline and versioned."""

from monitor.compiled import package_path

__path__ = package_path(__name__, list(__path__))  # the compiled hot path, when built from these sources
