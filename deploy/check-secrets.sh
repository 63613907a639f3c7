#!/bin/sh
# Refuse to start the stack on placeholder or weak secrets (docker-compose.yml's secrets-check job, which
# every service that stores anything waits for). Arguments: the names of the variables to check.
#   NAME ending in _USER or _ACCESS_KEY  an identity (a MinIO user): set, and not a placeholder
#   AIRFLOW__CORE__FERNET_KEY            a Fernet key: 32 random bytes, url-safe base64 (44 characters)
#   AIRFLOW__API_AUTH__JWT_SECRET        at least 32 characters (it signs every API and task token)
#   any other NAME                       a secret: at least 16 characters
#   MINIO_ROOT_USER, MINIO_ROOT_PASSWORD also no character that would break the URL minio-init
#                                        hands mc (MC_HOST_ibdc=http://user:password@minio:9000)
# Every value must be distinct from the others (a secret reused, or copied between two variables, is
# refused), and none may be one of .env.example's placeholders. Exit 0 when every check passes, else 1
# with one line on stderr per refused variable (its name and why, never its value).
set -uf  # no globbing: values are compared, never expanded as patterns

MIN_SECRET=16
MIN_JWT_SECRET=32
PLACEHOLDERS="change-me change-me-too changeme secret password"

failed=0
seen=""
refuse() {
    echo "check-secrets: $1: $2" >&2
    failed=1
}

for name in "$@"; do
    case "$name" in
        *[!A-Za-z0-9_]* | "" | [0-9]*) refuse "$name" "not a variable name"; continue ;;
    esac
    eval "value=\${$name-}"
    if [ -z "$value" ]; then
        refuse "$name" "unset or empty"
        continue
    fi
    placeholder=0
    for p in $PLACEHOLDERS; do
        [ "$value" = "$p" ] && placeholder=1
    done
    case "$value" in
        *change-me* | *CHANGE-ME* | *change_me*) placeholder=1 ;;
    esac
    if [ "$placeholder" = 1 ]; then
        refuse "$name" "still the .env.example placeholder: put a random value in .env"
        continue
    fi
    case "$name" in
        *_USER | *_ACCESS_KEY)
            ;;
        AIRFLOW__CORE__FERNET_KEY)
            case "$value" in
                *[!A-Za-z0-9_=-]*) refuse "$name" "not url-safe base64 (make one: see .env.example)" ;;
                *) [ "${#value}" -eq 44 ] || refuse "$name" "not a Fernet key: 44 characters of url-safe base64 (see .env.example)" ;;
            esac
            ;;
        AIRFLOW__API_AUTH__JWT_SECRET)
            [ "${#value}" -ge "$MIN_JWT_SECRET" ] || refuse "$name" "shorter than $MIN_JWT_SECRET characters"
            ;;
        *)
            [ "${#value}" -ge "$MIN_SECRET" ] || refuse "$name" "shorter than $MIN_SECRET characters"
            ;;
    esac
    case "$value" in
        *"
"*) refuse "$name" "holds a line break"; continue ;;
    esac
    case "$name" in
        MINIO_ROOT_USER | MINIO_ROOT_PASSWORD)
            case "$value" in
                *[/?#%:@\"\<\>\\^\`{\|}\ \	]*)
                    refuse "$name" "holds a character of / ? # % : @ \" < > \\ ^ \` { | } or a space (minio-init puts it in a URL)"
                    continue
                    ;;
            esac
            ;;
    esac
    # Distinct values: each one seen is kept on a line of its own.
    duplicate=0
    old_ifs=$IFS
    IFS='
'
    for other in $seen; do
        [ "$other" = "$value" ] && duplicate=1
    done
    IFS=$old_ifs
    [ "$duplicate" = 1 ] && refuse "$name" "the same value as another variable: give each its own"
    seen="$seen
$value"
done

if [ "$failed" != 0 ]; then
    echo "check-secrets: refused; nothing was started. Fill .env from .env.example with random values." >&2
    exit 1
fi
echo "check-secrets: $# variables checked"
