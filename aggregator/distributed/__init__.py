"""Crawling on many workers (Celery over RabbitMQ, PostgreSQL shared): an upper layer that may import services."""
