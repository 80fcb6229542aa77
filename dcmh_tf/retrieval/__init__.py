"""Retrieval: Hamming indexes of a run's codes and their shards, the `Searcher` that answers a picture
or a text with the other modality's items, and the HTTP service with its page."""
