-- Airflow's metadata database beside the warehouse (the same server, as in the local stack).
CREATE DATABASE airflow;
