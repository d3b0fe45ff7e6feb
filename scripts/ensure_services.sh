#!/usr/bin/env bash
# Make sure Redis and PostgreSQL respond on 127.0.0.1 before the tests or the demo run.
# Redis is started locally when redis-server is installed; otherwise this script prints how
# to get one. PostgreSQL is only needed by the tests.
set -euo pipefail

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Redis is not answering on 127.0.0.1:6379; starting a local redis-server"
    mkdir -p var/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  fi
  if ! redis_up; then
    echo "No Redis on 127.0.0.1:6379 and no redis-server to start." >&2
    echo "Install one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)," >&2
    echo "or point REDIS_URL and SYNC_STATE_REDIS_URL at a running Redis." >&2
    exit 1
  fi
fi

# A TEST_DATABASE_URL points the tests at another PostgreSQL, which is not checked here.
if [ "${NEED_POSTGRES:-1}" = "1" ] && [ -z "${TEST_DATABASE_URL:-}" ] && ! postgres_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432; starting the local cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 50); do postgres_up && break; sleep 0.2; done
  fi
  if ! postgres_up; then
    echo "The tests need PostgreSQL on 127.0.0.1:5432 (trust auth, database 'test')," >&2
    echo "or TEST_DATABASE_URL pointing at one. Install it with apt-get install postgresql." >&2
    exit 1
  fi
fi
