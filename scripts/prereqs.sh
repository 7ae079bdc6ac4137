#!/usr/bin/env bash
# Installs the Debian packages the virtualenv needs, only when missing:
# python3 with venv, pg_config + gcc to build psycopg2, node + npm (browser libraries, tests),
# chromium + chromium-driver for the browser test.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v pg_config >/dev/null || need+=(libpq-dev)
command -v gcc >/dev/null || need+=(gcc)
# node + npm for the test-only PGlite server (package.json; tests/test_timescaledb.py)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Debian's browser + its WebDriver for the real-browser test (tests/test_browser.py): no browser download
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  [ "$(id -u)" = 0 ] || { echo "need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
