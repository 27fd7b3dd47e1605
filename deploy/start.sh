#!/usr/bin/env bash
# The production setup: nginx on $HOST:$PORT in front of gunicorn on a unix socket. Used by the container
# and by `make serve-proxy`. TERM or INT drains both: nginx stops taking connections and finishes what it
# has, then gunicorn finishes its photos and exits. If either dies, the other is stopped and the script
# exits with its status (a container's restart policy then starts both again).
set -euo pipefail
cd "$(dirname "$0")/.."

export PORT="${PORT:-8000}" HOST="${HOST:-0.0.0.0}" MAX_UPLOAD_MB="${MAX_UPLOAD_MB:-25}"
export REQUEST_TIMEOUT_S="${REQUEST_TIMEOUT_S:-60}"
GUNICORN="${GUNICORN:-gunicorn}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
RUN_DIR="${RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bg-remover.XXXXXX")}"
mkdir -p "$RUN_DIR"/body "$RUN_DIR"/proxy "$RUN_DIR"/fastcgi "$RUN_DIR"/uwsgi "$RUN_DIR"/scgi
SOCKET="$RUN_DIR/gunicorn.sock"

# MAX_UPLOAD_MB may be fractional for Flask; nginx takes whole kilobytes.
upload_kb=$(awk -v mb="$MAX_UPLOAD_MB" 'BEGIN { printf "%d", mb * 1024 }')
# Started as root (a CI machine, a development box), nginx would run its workers as "nobody", who may not
# reach the socket: they run as the same user as gunicorn, as they do anyway for any other user.
if [ "$(id -u)" = 0 ]; then user_line="user $(id -un) $(id -gn);"; else user_line="# workers run as $(id -un)"; fi
read_timeout=$(awk -v s="$REQUEST_TIMEOUT_S" 'BEGIN { printf "%d", s + 15 }')
# TRUSTED_PROXIES: the load balancers (addresses or CIDR ranges, space- or comma-separated) whose
# X-Forwarded-For names the client for the per-client limit; empty: the peer is the client.
real_ip="" proxies="${TRUSTED_PROXIES:-}"
for proxy in ${proxies//,/ }; do real_ip+="    set_real_ip_from $proxy;\n"; done
if [ -n "$real_ip" ]; then real_ip+="    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n"; fi
sed -e "s|@USER@|$user_line|" -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@SOCKET@|$SOCKET|g" -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" \
    -e "s|client_max_body_size @MAX_UPLOAD_MB@m|client_max_body_size ${upload_kb}k|" \
    -e "s|@MAX_UPLOAD_MB@|$MAX_UPLOAD_MB|g" -e "s|@READ_TIMEOUT_S@|$read_timeout|g" \
    -e "s|@HEADER_TIMEOUT_S@|${HEADER_TIMEOUT_S:-10}|g" -e "s|@BODY_TIMEOUT_S@|${BODY_TIMEOUT_S:-10}|g" \
    -e "s|@RESTART_S@|${RESTART_S:-5}|g" -e "s|@PHOTOS_PER_CLIENT@|${PHOTOS_PER_CLIENT:-3}|g" \
    -e "s|@CLIENT_RETRY_S@|${CLIENT_RETRY_S:-1}|g" -e "s|^@REAL_IP@$|$real_ip|" deploy/nginx.conf > "$RUN_DIR/nginx.conf"
# nginx writes its access log to /dev/stderr, which it opens anew: as a non-root user (the container's
# 10001) it may not open the runtime's stderr, a pipe that root owns (open() fails with EACCES). So its
# stderr is a pipe of this script's own, copied to ours.
"$NGINX" -t -q -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" 2> >(cat >&2)

BIND="unix:$SOCKET" "$GUNICORN" -c gunicorn.conf.py wsgi:app &
gunicorn_pid=$!
"$NGINX" -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" 2> >(cat >&2) &
nginx_pid=$!

drain() {
    trap - TERM INT
    kill -QUIT "$nginx_pid" 2>/dev/null || true  # graceful: in-flight requests still get their answers
    wait "$nginx_pid" 2>/dev/null || true
    kill -TERM "$gunicorn_pid" 2>/dev/null || true  # graceful: photos in progress finish
    wait "$gunicorn_pid" 2>/dev/null || true
}
trap 'drain; exit 0' TERM INT
set +e
wait -n "$gunicorn_pid" "$nginx_pid"
status=$?
set -e
drain
exit "$status"
