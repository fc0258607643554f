# One image for every engine process: worker, relay, sandbox and the `payments` CLI.
# docker-compose.yml picks the process with its command (payments worker|relay|sandbox).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package (not editable): the migrations ship inside the db package.
COPY . /tmp/src
RUN pip install /tmp/src && rm -rf /tmp/src

# Run as an unprivileged user whose home is the working directory, so the default
# data dir (.payments) is writable.
RUN useradd --create-home --uid 10001 payments
USER payments
WORKDIR /home/payments

# 8300: webhook relay, 8400: sandbox hub.
EXPOSE 8300 8400
CMD ["payments", "worker"]
