FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    UPTAKE_HOST=0.0.0.0 UPTAKE_PORT=3978 UPTAKE_DATA_DIR=/data

RUN useradd --create-home --uid 10001 uptake && mkdir /data && chown uptake /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY content ./content
COPY migrations ./migrations
COPY manifests ./manifests
RUN pip install -e ".[postgres]"

USER uptake
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3978/healthz', timeout=4).status == 200 else 1)"
# `serve` upgrades the schema on start (pass --no-migrate to turn that off).
ENTRYPOINT ["uptake"]
CMD ["serve"]
