"""The throwaway cluster itself: reachable on 127.0.0.1, one fresh database per test."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg


def test_each_test_gets_an_empty_database_it_can_write(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (1), (2)")
        assert conn.execute("SELECT sum(n) FROM probe").fetchone() == (3,)


def test_the_next_test_does_not_see_the_last_ones_tables(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute("SELECT to_regclass('public.probe')").fetchone()
        assert found == (None,)


def test_the_cluster_listens_on_loopback_only_and_not_as_root(postgres_cluster, postgres_url):
    assert urlsplit(postgres_url).hostname == "127.0.0.1"
    with psycopg.connect(postgres_url) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("127.0.0.1",)
        socket_dir = conn.execute("SHOW unix_socket_directories").fetchone()
        assert socket_dir == (str(postgres_cluster.base),)
    # PostgreSQL refuses root; when we are root the cluster must belong to another user.
    owner = (postgres_cluster.data / "PG_VERSION").stat().st_uid
    assert owner != 0


def test_databases_are_dropped_after_their_test(postgres_cluster):
    url = postgres_cluster.create_database()
    name = url.rsplit("/", 1)[1]
    postgres_cluster.drop_database(url)
    with psycopg.connect(postgres_cluster.url()) as conn:
        rows = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall()
    assert rows == []
