"""The briefbot engine: articles in, cited answers and briefings out. Knows nothing of chat platforms."""
