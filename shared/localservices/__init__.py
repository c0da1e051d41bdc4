"""Processes the project starts itself where no Docker engine or external server is available:
a TimescaleDB cluster and a Kafka-protocol broker, both on loopback."""
