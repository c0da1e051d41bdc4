# syntax=docker/dockerfile:1
# The costpipe image: one image for every component (`costpipe collector|aggregator|api|migrate`).
#
#   docker build -t costpipe:0.1.0 .
#
# Stage 1 installs the locked runtime dependencies and the project into a virtual environment
# with uv (no dev group, no `local` extra: Kafka and TimescaleDB are external in production).
# Stage 2 is the same slim Python with that environment only, run as an unprivileged user.
# Both stages use the same base image so the environment's interpreter path is valid in both.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/opt/costpipe/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
# Then the project itself, installed as a package (not editable), so the runtime stage needs
# nothing but the environment.
COPY shared ./shared
COPY services ./services
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 costpipe \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin costpipe
COPY --from=builder /opt/costpipe/venv /opt/costpipe/venv
ENV PATH=/opt/costpipe/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COSTPIPE_API_HOST=0.0.0.0
WORKDIR /tmp
# Numeric, so Kubernetes can check runAsNonRoot against the image.
USER 10001:10001
EXPOSE 8080 9100
ENTRYPOINT ["costpipe"]
CMD ["--help"]
