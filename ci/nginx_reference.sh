# shellcheck shell=bash
# Sourced by the benchmarks that measure nginx beside the registry (bench_registry.sh, bench_log.sh):
# one nginx setup, so both references are the same strong one.

# The nginx.conf up to the server block, with its files under DIR. Keep-alive like hyper's (no
# per-connection request limit, idle connections kept); descriptors kept open (no open/fstat/close
# per request) and the body copied into the response (one writev) instead of sendfile: the fastest
# static setup found for a file of a few KiB (the stock one served about 84,000/s here, this one
# 108,000-136,000/s). The caller appends its `server { ... }` and the closing brace.
nginx_conf_head() {
    local dir=$1
    cat <<EOF
daemon off;
master_process on;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/nginx-body;
    proxy_temp_path $dir/nginx-proxy;
    fastcgi_temp_path $dir/nginx-fastcgi;
    uwsgi_temp_path $dir/nginx-uwsgi;
    scgi_temp_path $dir/nginx-scgi;
    sendfile off;
    open_file_cache max=100 inactive=300s;
    open_file_cache_valid 300s;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
EOF
}

# Stops the nginx master PID gracefully (it stops its workers), forcibly after 5 s.
stop_nginx() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -QUIT "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}
