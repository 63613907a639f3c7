#!/bin/sh
# minio-init (docker-compose.yml): the buckets, the raw zone's retention and one MinIO user per
# service, as MinIO's root. Idempotent: a re-run on an existing deployment creates what is missing and
# sets the policies, users' keys and the retention again from .env and the policy files beside this
# script. Run by the minio/mc image after secrets-check passed.
#
#   ibdc-raw   versioned, object lock on (created --with-lock), default retention GOVERNANCE for
#              IBDC_RAW_RETENTION_DAYS days: no version can be deleted before then, whatever a key's
#              policy says, except by a holder of s3:BypassGovernanceRetention (root alone here).
#              A bucket created by an earlier version without the lock keeps its data and versions but
#              cannot get the lock (this MinIO release enables it at creation only): the run says so
#              and goes on; its versions stay protected by the users' policies alone.
#   ibdc-docs  versioned, the dbt docs under dbt-docs/latest/.
#   ibdc-exchange  versioned, the data products published as Delta tables (ibdc.exchange.publish,
#              written by the workers with the pipeline's keys), read by the exchange API. No object
#              lock: the pipeline's policy alone keeps its versions (no version delete, no versioning
#              change, no lifecycle), as on the docs bucket.
# Users (each its own keys from .env, its policy from the file beside this script):
#   IBDC_S3_ACCESS_KEY              policy ibdc-pipeline (pipeline-policy.json): the Celery workers
#                                   (it may put an object's retention on the raw bucket: MinIO checks
#                                   every upload into a bucket with a default retention against
#                                   s3:PutObjectRetention; COMPLIANCE mode and bypassing are denied)
#   IBDC_S3_DOCS_READER_ACCESS_KEY  policy ibdc-docs-reader (docs-reader-policy.json): the api-server
#   IBDC_EXCHANGE_S3_ACCESS_KEY     policy ibdc-exchange (exchange-policy.json): the exchange-api, which
#                                   presigns Delta Sharing URLs: get and list the exchange bucket only
set -eu

RAW=ibdc-raw
DOCS=ibdc-docs
EXCHANGE=ibdc-exchange
RETENTION_DAYS=${IBDC_RAW_RETENTION_DAYS:-3650}
HERE=$(dirname "$0")

case "$RETENTION_DAYS" in
    "" | *[!0-9]* | 0) echo "minio-init: IBDC_RAW_RETENTION_DAYS must be a whole number of days, not '$RETENTION_DAYS'" >&2; exit 1 ;;
esac

# Root's keys reach mc through the environment (alias ibdc), never a command line (ps shows those).
# check-secrets.sh refuses a root user or password with a character that would break this URL.
export MC_HOST_ibdc="http://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@minio:9000"

if mc stat "ibdc/$RAW" >/dev/null 2>&1; then
    raw_existed=1
else
    raw_existed=0
    mc mb --with-lock "ibdc/$RAW"
fi
mc version enable "ibdc/$RAW"
if [ "$raw_existed" = 0 ]; then
    mc retention set --default GOVERNANCE "${RETENTION_DAYS}d" "ibdc/$RAW"
elif ! mc retention set --default GOVERNANCE "${RETENTION_DAYS}d" "ibdc/$RAW"; then
    echo "minio-init: WARNING: $RAW was created without object lock (before this version): no default" \
        "retention on it. Its versions stay, protected by the users' policies (no user but root may" \
        "delete a version); see docs/governance.md, Object store users." >&2
fi

mc mb --ignore-existing "ibdc/$DOCS"
mc version enable "ibdc/$DOCS"

mc mb --ignore-existing "ibdc/$EXCHANGE"
mc version enable "ibdc/$EXCHANGE"

# access key, secret key, policy name, policy file: the user and its policy created or updated.
ensure_user() {
    mc admin policy create ibdc "$3" "$HERE/$4" >/dev/null
    # The user's secret key is on mc's command line: visible only inside this one-shot container (its
    # only process besides this shell), which holds root's keys anyway and exits when done.
    mc admin user add ibdc "$1" "$2" >/dev/null
    case "$(mc admin policy entities ibdc --user "$1")" in
        *"$3"*) ;;
        *) mc admin policy attach ibdc "$3" --user "$1" ;;
    esac
    echo "minio-init: user $1 has policy $3"
}
ensure_user "$IBDC_S3_ACCESS_KEY" "$IBDC_S3_SECRET_KEY" ibdc-pipeline pipeline-policy.json
ensure_user "$IBDC_EXCHANGE_S3_ACCESS_KEY" "$IBDC_EXCHANGE_S3_SECRET_KEY" ibdc-exchange exchange-policy.json
ensure_user "$IBDC_S3_DOCS_READER_ACCESS_KEY" "$IBDC_S3_DOCS_READER_SECRET_KEY" ibdc-docs-reader docs-reader-policy.json
