FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The settings start nothing, and collectstatic reads no database; a key they insist on signs nothing here.
RUN SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "museum_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4"]
