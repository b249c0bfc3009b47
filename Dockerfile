# One image for every Sinergi service; compose.yaml picks the module to run.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY services ./services
RUN pip install --no-cache-dir .
USER nobody
