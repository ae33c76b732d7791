"""The demo: a small RAG application over a bundled policy corpus, and the local model server it calls."""
