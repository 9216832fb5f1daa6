#!/bin/sh
# Entry point of the m3tr images (Dockerfile): `serve` and `worker` first apply the Alembic
# migrations shipped inside the installed package (`m3tr db upgrade`, idempotent; skip with
# M3TR_MIGRATE_ON_START=0), then every argument list runs as `m3tr ARGS...`. A first argument
# that is a program on PATH (m3tr, celery, python, sh) runs as given.
set -eu
if [ "$#" -eq 0 ]; then
    set -- --help
fi
case "$1" in
    serve|worker)
        if [ "${M3TR_MIGRATE_ON_START:-1}" = "1" ]; then
            m3tr db upgrade
        fi
        ;;
    -*) ;;
    *)
        if command -v "$1" >/dev/null 2>&1; then
            exec "$@"
        fi
        ;;
esac
exec m3tr "$@"
