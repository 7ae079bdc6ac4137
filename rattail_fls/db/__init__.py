"""Database layer: main-DB models, shard models, routing and migrations."""
