"""Stream processor: scores readings per patient and turns them into explained, de-duplicated alerts."""

from monitor.compiled import package_path

__path__ = package_path(__name__, list(__path__))  # the compiled hot path, when built from these sources
