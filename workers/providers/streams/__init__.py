"""Streaming provider calls: one module per wire format's Server-Sent Events, over the same ProviderConfig."""
