# shellcheck shell=bash
# Debian packages the tests need, installed with apt: `apt_install WHO PACKAGE...` installs
# them (as root, or with `sudo -n`), trying without refreshing the package lists first and
# refreshing only when that fails. WHO prefixes its messages. Sourced by scripts/browser.sh
# and scripts/clients.sh.

apt_install() {
  local who=$1
  shift
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      echo "$who: $* missing and not root (no sudo): cannot install" >&2
      return 1
    fi
  fi
  echo "$who: installing $* with apt" >&2
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  local install=(install -y -qq --no-install-recommends "$@")
  if ! "${apt[@]}" "${install[@]}" >&2; then
    "${apt[@]}" update -qq >&2 && "${apt[@]}" "${install[@]}" >&2 || {
      echo "$who: cannot install $*" >&2
      return 1
    }
  fi
}
