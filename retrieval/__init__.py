"""The briefbot engine: articles in, cited answers and briefings out. No chat platform here."""

import os

# Nothing may be downloaded at run time: a model name not found locally would otherwise be
# retried against the Hub for over a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
