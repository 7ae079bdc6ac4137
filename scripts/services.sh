#!/usr/bin/env bash
# Make PostgreSQL, Redis and MariaDB reachable for `make demo` / `make test`.
#   bash scripts/services.sh ensure   # idempotent, fast when all is up; writes var/services.env
#   bash scripts/services.sh stop     # stops only the project-local instances started here
#
# A service at FLS_<SVC>_HOST:PORT is used if it answers; else its package is apt-installed if
# missing and a project-local instance is started under var/ on a FIXED port 5433/6380/3307
# (FLS_{PG,REDIS,MYSQL}_LOCAL_PORT), never the requested one: no clash with a merely stopped
# system service, and the next `ensure` finds it again.  PostgreSQL: a stopped Debian system
# cluster on the requested local port is started first.  If the postgres/mysql users cannot
# traverse the repo, data+logs go to /var/tmp/rattail-fls-<hash>/ (var/pg, var/mysql symlink).
# MariaDB: if FLS_MYSQL_USER (root) cannot log in over TCP, dev user fls/fls (all privileges)
# is created via root's unix socket and used instead.
# FLS_TSDB_URL (optional, e.g. postgresql://postgres@127.0.0.1:5440): a PostgreSQL server with
# TimescaleDB preloaded (shared_preload_libraries = 'timescaledb'). When set it must answer and
# preload TimescaleDB; it is written to services.env, and the tests run their `timescaledb`
# storage parameter on it (the benches their TimescaleDB runs). Unset, that parameter runs on
# FLS_PG_URL if that server preloads TimescaleDB, else it is reported as skipped with the reason.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=$ROOT/var
HASH=$(printf %s "$ROOT" | md5sum | cut -c1-10)
: "${FLS_PGHOST:=127.0.0.1}" "${FLS_PGPORT:=5432}" "${FLS_PGUSER:=postgres}"
: "${FLS_REDIS_HOST:=127.0.0.1}" "${FLS_REDIS_PORT:=6379}"
: "${FLS_MYSQL_HOST:=127.0.0.1}" "${FLS_MYSQL_PORT:=3306}" "${FLS_MYSQL_USER:=root}" "${FLS_MYSQL_PASSWORD:=}"
: "${FLS_PG_LOCAL_PORT:=5433}" "${FLS_REDIS_LOCAL_PORT:=6380}" "${FLS_MYSQL_LOCAL_PORT:=3307}"
export PGCONNECT_TIMEOUT=3

die() { echo "services.sh: ERROR: $*" >&2; exit 1; }
is_local() { [[ $1 == 127.0.0.1 || $1 == localhost ]]; }
wait_for() { # seconds cmd... : poll until cmd succeeds
  local i n=$1; shift; for ((i = 0; i < n * 2; i++)); do "$@" && return 0; sleep 0.5; done; return 1
}
APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not available; install $* manually"
  echo "services.sh: installing $* with apt-get ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  [[ -n $APT_UPDATED ]] || { apt-get update -qq >&2 && APT_UPDATED=1; } || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}
svc_dir() { # name os-user : prints base dir (var/ or /var/tmp/...) with <name>/ and log/<name>.log ready
  local base=$VAR; mkdir -p "$VAR/log"
  if [[ -L $VAR/$1 ]] || ! runuser -u "$2" -- test -x "$VAR/log"; then
    base=/var/tmp/rattail-fls-$HASH
    mkdir -p "$base/$1" "$base/log" && chmod 755 "$base" "$base/log" && ln -sfn "$base/$1" "$VAR/$1"
  fi
  mkdir -p "$base/$1" && chown "$2": "$base/$1" && chmod 700 "$base/$1"
  touch "$base/log/$1.log" && chown "$2": "$base/log/$1.log" && echo "$base"
}
kill_pidfile() { # pidfile name
  local pid
  [[ -s $1 ]] && pid=$(cat "$1") && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid"; wait_for 60 eval "! kill -0 $pid 2>/dev/null" || die "$2 (pid $pid) did not stop"
  echo "$2: stopped project-local instance (pid $pid)"
}
# Each ensure_* sets H (host), P (port), HOW (description) or dies.

# ---------------------------------------------------------------- PostgreSQL
pg_ok() { psql -h "$1" -p "$2" -U "$FLS_PGUSER" -d postgres -w -Atqc 'select 1' &>/dev/null; }
pgbin() { find /usr/lib/postgresql -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n1; }
ensure_pg() {
  local bin base d ver name port st
  H=$FLS_PGHOST P=$FLS_PGPORT HOW="already running"
  pg_ok "$H" "$P" && return
  H=127.0.0.1 P=$FLS_PG_LOCAL_PORT HOW="project-local, already running"
  pg_ok "$H" "$P" && return
  bin=$(pgbin); [[ -x $bin/initdb ]] || { apt_install postgresql postgresql-contrib; bin=$(pgbin); }
  [[ -x $bin/initdb ]] || die "PostgreSQL initdb not found after install"
  if is_local "$FLS_PGHOST" && command -v pg_lsclusters >/dev/null; then
    while read -r ver name port st _; do
      [[ $port == "$FLS_PGPORT" && $st == down* ]] || continue
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 || true
      H=$FLS_PGHOST P=$FLS_PGPORT HOW="started system cluster $ver/$name"
      wait_for 20 pg_ok "$H" "$P" && return
    done < <(pg_lsclusters -h 2>/dev/null)
  fi
  H=127.0.0.1 P=$FLS_PG_LOCAL_PORT base=$(svc_dir pg postgres); d=$base/pg/data
  if [[ ! -s $d/PG_VERSION ]]; then
    (cd / && runuser -u postgres -- "$bin/initdb" -D "$d" -U "$FLS_PGUSER" -A trust -E UTF8 --locale=C \
      >>"$base/log/pg.log" 2>&1) || die "initdb failed, see $base/log/pg.log"
  fi
  bin=/usr/lib/postgresql/$(cat "$d/PG_VERSION")/bin
  (cd / && runuser -u postgres -- "$bin/pg_ctl" -D "$d" -l "$base/log/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $P -c unix_socket_directories=''" start >/dev/null) ||
    die "PostgreSQL did not start on 127.0.0.1:$P, see $base/log/pg.log"
  wait_for 30 pg_ok "$H" "$P" || die "PostgreSQL on 127.0.0.1:$P not answering, see $base/log/pg.log"
  HOW="started project-local in $d, log $base/log/pg.log"
}

# --------------------------------------------------------------------- Redis
redis_ok() { [[ $(timeout 5 redis-cli -h "$1" -p "$2" ping 2>/dev/null) == PONG ]]; }
ensure_redis() {
  H=$FLS_REDIS_HOST P=$FLS_REDIS_PORT HOW="already running"
  redis_ok "$H" "$P" && return
  H=127.0.0.1 P=$FLS_REDIS_LOCAL_PORT HOW="project-local, already running"
  redis_ok "$H" "$P" && return
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server
    H=$FLS_REDIS_HOST P=$FLS_REDIS_PORT HOW="started by package install"
    redis_ok "$H" "$P" && return
    H=127.0.0.1 P=$FLS_REDIS_LOCAL_PORT
  fi
  mkdir -p "$VAR/redis" "$VAR/log"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$P" --save "" --appendonly no --dir "$VAR/redis" \
    --logfile "$VAR/log/redis.log" --pidfile "$VAR/redis/redis.pid" >/dev/null ||
    die "redis-server failed to start, see $VAR/log/redis.log"
  wait_for 20 redis_ok "$H" "$P" || die "Redis on 127.0.0.1:$P not answering, see $VAR/log/redis.log"
  HOW="started project-local in $VAR/redis, log $VAR/log/redis.log"
}

# ------------------------------------------------------------------- MariaDB
myclient() { command -v mariadb || command -v mysql; }
my_ok() { # host port user pass
  [[ -n $(myclient) ]] && MYSQL_PWD=$4 timeout 15 "$(myclient)" --connect-timeout=3 --protocol=tcp \
    -h "$1" -P "$2" -u "$3" -e 'select 1' &>/dev/null
}
try_mysql() { # host port [socket] : sets MY_USER/MY_PASS if a TCP login works (creating fls if needed)
  local s=()
  MY_USER=$FLS_MYSQL_USER MY_PASS=$FLS_MYSQL_PASSWORD
  my_ok "$1" "$2" "$MY_USER" "$MY_PASS" && return
  MY_USER=fls MY_PASS=fls
  my_ok "$1" "$2" fls fls && return
  is_local "$1" && [[ -n $(myclient) ]] || return 1
  [[ -n ${3:-} ]] && s=(-S "$3")
  # is root's unix socket the same server (same port)? then create the dev user fls/fls there
  [[ $(timeout 15 "$(myclient)" "${s[@]}" -u root -Nse 'select @@port' 2>/dev/null) == "$2" ]] || return 1
  local u sql=""
  for u in "'fls'@'127.0.0.1'" "'fls'@'localhost'"; do
    sql+="CREATE USER IF NOT EXISTS $u IDENTIFIED BY 'fls'; ALTER USER $u IDENTIFIED BY 'fls';"
    sql+="GRANT ALL PRIVILEGES ON *.* TO $u WITH GRANT OPTION;"
  done
  timeout 15 "$(myclient)" "${s[@]}" -u root -e "$sql" >&2 && my_ok "$1" "$2" fls fls
}
mysock() { # socket of the project-local server (unix socket paths are limited to ~107 chars)
  local s; s=$(readlink -f "$VAR/mysql" 2>/dev/null || echo "$VAR/mysql")/mysqld.sock
  ((${#s} <= 100)) || s=/tmp/rattail-fls-$HASH-mysqld.sock; echo "$s"
}
ensure_mysql() {
  local base d pid
  H=$FLS_MYSQL_HOST P=$FLS_MYSQL_PORT HOW="already running"
  try_mysql "$H" "$P" && return
  H=127.0.0.1 P=$FLS_MYSQL_LOCAL_PORT HOW="project-local, already running"
  try_mysql "$H" "$P" "$(mysock)" && return
  if ! command -v mariadbd >/dev/null || [[ -z $(myclient) ]]; then
    apt_install mariadb-server mariadb-client
    H=$FLS_MYSQL_HOST P=$FLS_MYSQL_PORT HOW="started by package install"
    try_mysql "$H" "$P" && return
    H=127.0.0.1 P=$FLS_MYSQL_LOCAL_PORT
  fi
  base=$(svc_dir mysql mysql); d=$base/mysql
  if [[ ! -d $d/data/mysql ]]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" --skip-test-db \
      --auth-root-authentication-method=socket >>"$base/log/mysql.log" 2>&1 ||
      die "mariadb-install-db failed, see $base/log/mysql.log"
  fi
  setsid mariadbd --no-defaults --user=mysql --datadir="$d/data" --socket="$(mysock)" \
    --pid-file="$d/mysqld.pid" --port="$P" --bind-address=127.0.0.1 --log-error="$base/log/mysql.log" \
    </dev/null &>/dev/null &
  pid=$!
  my_up() {
    kill -0 "$pid" 2>/dev/null || die "mariadbd exited, see $base/log/mysql.log"
    [[ -S $(mysock) ]] && try_mysql "$H" "$P" "$(mysock)"
  }
  wait_for 90 my_up || die "MariaDB on 127.0.0.1:$P not reachable, see $base/log/mysql.log"
  HOW="started project-local in $d, log $base/log/mysql.log"
}

stop() {
  local d; d=$(readlink -f "$VAR/pg" 2>/dev/null || true)/data
  if [[ -s $d/postmaster.pid && -s $d/PG_VERSION ]]; then
    (cd / && runuser -u postgres -- "/usr/lib/postgresql/$(cat "$d/PG_VERSION")/bin/pg_ctl" -D "$d" \
      -m fast -w stop >/dev/null) && echo "PostgreSQL: stopped project-local instance"
  fi
  kill_pidfile "$VAR/redis/redis.pid" Redis
  kill_pidfile "$(readlink -f "$VAR/mysql" 2>/dev/null || true)/mysqld.pid" MariaDB
}

case ${1:-} in
  ensure)
    ensure_pg; PG_URL=postgresql://$FLS_PGUSER@$H:$P; echo "PostgreSQL: using $H:$P ($HOW)"
    ensure_redis; REDIS_URL=redis://$H:$P; echo "Redis: using $H:$P ($HOW)"
    ensure_mysql; MYSQL_URL=mysql+pymysql://$MY_USER${MY_PASS:+:$MY_PASS}@$H:$P
    echo "MariaDB: using $H:$P as $MY_USER ($HOW)"; mkdir -p "$VAR"
    printf '%s\n' "FLS_PG_URL=$PG_URL" "FLS_REDIS_URL=$REDIS_URL" "FLS_MYSQL_URL=$MYSQL_URL" \
      "FLS_MYSQL_USER=$MY_USER" "FLS_MYSQL_PASSWORD=$MY_PASS" >"$VAR/services.env"
    if [[ -n ${FLS_TSDB_URL:-} ]]; then
      preload=$(psql "$FLS_TSDB_URL/postgres" -tAc "SHOW shared_preload_libraries") \
        || die "FLS_TSDB_URL=$FLS_TSDB_URL does not answer"
      [[ ,${preload// /}, == *,timescaledb,* ]] \
        || die "FLS_TSDB_URL=$FLS_TSDB_URL does not preload TimescaleDB (shared_preload_libraries = '$preload')"
      echo "TimescaleDB: using $FLS_TSDB_URL"; echo "FLS_TSDB_URL=$FLS_TSDB_URL" >>"$VAR/services.env"
    fi
    echo "Wrote $VAR/services.env" ;;
  stop) stop ;;
  *) echo "usage: $0 ensure|stop" >&2; exit 2 ;;
esac
