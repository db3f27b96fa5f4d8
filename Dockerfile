# One image for every project process (ingress, ledger, workers, fake provider, migrations, the stack.seed job);
# docker-compose.yml picks the process with `command`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so editing the code does not re-download them.
COPY pyproject.toml README.md ./
RUN mkdir -p schemas runtime ingress workers ledger fakeprovider stack cli \
    && pip install . \
    && pip uninstall -y luntrex-router

COPY . .
# /var/lib/luntrex belongs to the service user, so the seed's volume mounted there is writable by it.
RUN pip install --no-deps . \
    && useradd --system --no-create-home --shell /usr/sbin/nologin luntrex \
    && install -d -o luntrex -g luntrex -m 0700 /var/lib/luntrex

USER luntrex
CMD ["python", "-m", "ingress", "--host", "0.0.0.0", "--port", "8080"]
