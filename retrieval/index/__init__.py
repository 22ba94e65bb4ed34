"""The index: embeddings, the Chroma store of record, and search over it."""
