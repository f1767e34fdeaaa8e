# The vigil image for docker-compose users: worker, notifier, SMS sink and CLI from one build.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY device_gateway ./device_gateway
COPY models ./models
# The scoring hot path compiled with Cython (monitor/compiled.py); the compiler is removed again afterwards.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install --no-cache-dir . Cython==3.1.4 \
 && python -m monitor.build_compiled --out /opt/vigil/compiled --require \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENV VIGIL_HOME=/var/lib/vigil VIGIL_COMPILED_DIR=/opt/vigil/compiled
ENTRYPOINT ["vigil"]
