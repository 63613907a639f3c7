# Two images from one file. `platform` (the default, last stage): Airflow 3.3 with the runtime lock and
# the ibdc package, nothing of the harness. `simulator`: the provincial source simulator, which compose
# runs as a service of its own (docker build --target simulator).
FROM python:3.11.7-slim-bookworm AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/ibdc
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir pip==25.3 && pip install --no-cache-dir -r requirements.lock
COPY plugins/ibdc ./plugins/ibdc
RUN pip install --no-cache-dir --no-deps -e .

FROM runtime AS simulator
# The simulator needs nothing beyond the runtime lock (uvicorn comes with Airflow); its package alone.
COPY dev/pyproject.toml ./dev/pyproject.toml
COPY dev/ibdc_dev ./dev/ibdc_dev
RUN pip install --no-cache-dir --no-deps -e ./dev
USER nobody
CMD ["uvicorn", "ibdc_dev.simulator.app:app", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS platform
ENV AIRFLOW_HOME=/opt/airflow
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
# The plugins folder's own modules: the Airflow plugin (docs routes) and Airflow's local settings hook
# (the tasks' modules preloaded in the scheduler and workers).
COPY plugins/ibdc_airflow_plugin.py plugins/airflow_local_settings.py ./plugins/
COPY dags ./dags
COPY dbt_project ./dbt_project
RUN cd dbt_project && IBDC_DBT_HOST=x IBDC_DBT_PORT=5432 IBDC_DBT_USER=x IBDC_DBT_PASSWORD=x \
       IBDC_DBT_DBNAME=x dbt parse --profiles-dir . --quiet
RUN mkdir -p /opt/airflow/logs /opt/airflow/cosmos-cache && chown -R nobody /opt/airflow /opt/ibdc/dbt_project
USER nobody
