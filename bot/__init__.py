"""Uptake runtime: configuration, the neutral conversation model, routing, storage, delivery and serving."""
