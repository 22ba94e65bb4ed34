"""Articles in: reading files and feeds, cleaning, chunking, indexing."""
