"""The offline evaluation harness: questions, baselines, reports."""
