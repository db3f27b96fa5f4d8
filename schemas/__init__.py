"""Wire formats: the HTTP API, every Kafka event, topic names and error codes. No I/O lives here."""
