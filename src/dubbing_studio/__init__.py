"""AI Dubbing Studio: transcribe, translate, re-voice and mix speech, offline by default."""

__version__ = "0.1.0"
API_VERSION = "v1"
