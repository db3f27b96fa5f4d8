"""Plumbing every service shares: settings base, Kafka client lifecycle, catalogue loading, readiness."""
