# The project's image: Airflow 3.3 with the pinned dependencies and the ibdc package.
FROM python:3.11.7-slim-bookworm

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 AIRFLOW_HOME=/opt/airflow
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/ibdc
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir pip==25.3 && pip install --no-cache-dir -r requirements.lock
COPY plugins ./plugins
COPY dags ./dags
COPY dbt_project ./dbt_project
RUN pip install --no-cache-dir --no-deps -e . \
    && cd dbt_project && IBDC_DBT_HOST=x IBDC_DBT_PORT=5432 IBDC_DBT_USER=x IBDC_DBT_PASSWORD=x \
       IBDC_DBT_DBNAME=x dbt parse --profiles-dir . --quiet
RUN mkdir -p /opt/airflow/logs /opt/airflow/cosmos-cache && chown -R nobody /opt/airflow /opt/ibdc/dbt_project
USER nobody
