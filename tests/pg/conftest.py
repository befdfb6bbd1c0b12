"""PostgreSQL tests share one throwaway cluster per session; each test gets its own database."""

from tests.support.postgres import postgres_cluster, postgres_url

__all__ = ["postgres_cluster", "postgres_url"]
