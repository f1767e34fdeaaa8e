# The vigil image for docker-compose users: worker, notifier, SMS sink and CLI from one build.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY device_gateway ./device_gateway
COPY models ./models
RUN pip install --no-cache-dir .
ENV VIGIL_HOME=/var/lib/vigil
ENTRYPOINT ["vigil"]
