# Image of the portal: the same image runs the web server, the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings \
    PORTAL_ENV_FILE=/dev/null

# gettext provides msgfmt for compilemessages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files and message catalogs are built into the image. The key only
# lets settings load here; containers get their own SECRET_KEY at run time.
RUN SECRET_KEY=image-build-only python manage.py collectstatic --noinput -v 0 \
    && SECRET_KEY=image-build-only python manage.py compilemessages --ignore=.venv -v 0

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin portal
USER portal

EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
