# osteopenia-cds: the CDS Hooks service under gunicorn.
#
# The container listens on all interfaces, so authentication is required: mount a
# trusted-issuers file and point CDS_TRUSTED_ISSUERS_FILE at it, e.g.
#   docker run -p 8080:8080 -v "$PWD/issuers.json:/etc/osteopenia-cds/issuers.json:ro" \
#     -e CDS_TRUSTED_ISSUERS_FILE=/etc/osteopenia-cds/issuers.json osteopenia-cds
# Without it the service refuses to start (unauthenticated serving is loopback-only).
# TLS is terminated in front of the container (reverse proxy or load balancer).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_DATA_DIR=/var/lib/osteopenia-cds

RUN groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid cds --home-dir /app --shell /usr/sbin/nologin cds \
    && mkdir -p /var/lib/osteopenia-cds \
    && chown cds:cds /var/lib/osteopenia-cds

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY fhir_mappings ./fhir_mappings
RUN pip install --no-cache-dir . \
    && rm -rf /app/cds_service /app/fhir_mappings

USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

# The config module (cds_service/gunicorn_conf.py) holds the worker model (2 gthread workers,
# 16 threads each) shared with `osteopenia-cds serve`, and checks every bind address before
# listening; the service writes its own JSON access log line per request, so gunicorn's is
# not enabled. More workers or threads: GUNICORN_CMD_ARGS="--workers 4 --threads 32".
CMD ["gunicorn", "--config", "python:cds_service.gunicorn_conf", "--bind", "0.0.0.0:8080", "cds_service.app:create_app()"]
