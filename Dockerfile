# One image for every role, chosen by its command: web, worker, beat, migrate (see
# deploy/container/entrypoint and docs/deploying.md). Every setting comes from the
# environment, as in the README's Configuration table.
#
#   docker build -t clerk-mirror .
#   docker run --env-file prod.env clerk-mirror migrate
#   docker run --env-file prod.env -p 8000:8000 clerk-mirror web
#
# BASE_IMAGE: any Debian-based image with python3 (3.11+) and its venv module; the same
# one for both stages, since the runtime takes the build stage's virtual environment.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The wheel, built from the source, and installed with its dependencies into a venv.
FROM ${BASE_IMAGE} AS build
LABEL org.opencontainers.image.title="clerk-phone-mirror-build"
# Extra pip arguments, e.g. "--no-index --find-links /src/wheelhouse" to build from a
# wheelhouse in the context where no package index is reachable.
ARG PIP_ARGS=""
COPY . /src
RUN python3 -m venv /opt/clerk-mirror \
    && /opt/clerk-mirror/bin/pip wheel --no-cache-dir ${PIP_ARGS} --wheel-dir /wheels /src \
    && /opt/clerk-mirror/bin/pip install --no-cache-dir --no-index --find-links /wheels \
        clerk-phone-mirror \
    && /opt/clerk-mirror/bin/pip uninstall --yes --quiet pip setuptools

# The runtime: the base image, the venv and two scripts; no compiler, no source.
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="clerk-phone-mirror" \
      org.opencontainers.image.description="Clerk phone-number mirror: web, worker, beat, migrate"
# A user of its own, with a home it owns for the state a process keeps: beat's schedule
# and the metric files that this container's processes share.
RUN useradd --system --uid 10001 --user-group --create-home \
        --home-dir /var/lib/clerk-mirror --shell /usr/sbin/nologin clerk-mirror
COPY --from=build /opt/clerk-mirror /opt/clerk-mirror
# The Procfile is where the roles' commands live, here as on a Procfile platform;
# gunicorn reads its settings (JSON logs) from the working directory.
COPY Procfile gunicorn.conf.py /app/
COPY deploy/container/entrypoint deploy/container/healthcheck /usr/local/bin/
ENV PATH=/opt/clerk-mirror/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    CELERY_BEAT_SCHEDULE=/var/lib/clerk-mirror/celerybeat-schedule \
    PROMETHEUS_MULTIPROC_DIR=/var/lib/clerk-mirror/metrics
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# For the web, GET /healthz; for a worker, its /metrics when CLERK_MIRROR_METRICS_PORT is
# set; beat and migrate have nothing to ask.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["healthcheck"]
ENTRYPOINT ["entrypoint"]
CMD ["web"]
