# shellcheck shell=bash
# Headless Chromium and chromedriver for the browser end-to-end test (tests/upload_browser.rs).
# Sourced by scripts/test. Installs Debian's `chromium` and `chromium-driver` with apt only
# when /usr/bin/chromium or /usr/bin/chromedriver is missing; silent when both are present.

browser_install() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      echo "browser: chromium/chromedriver missing and not root (no sudo): cannot install" >&2
      return 1
    fi
  fi
  echo "browser: installing chromium and chromium-driver with apt" >&2
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  local pkgs=(install -y -qq --no-install-recommends chromium chromium-driver)
  # Try without refreshing the package lists first; refresh only when that fails.
  if ! "${apt[@]}" "${pkgs[@]}" >&2; then
    "${apt[@]}" update -qq >&2 && "${apt[@]}" "${pkgs[@]}" >&2 || {
      echo "browser: cannot install chromium/chromium-driver" >&2
      return 1
    }
  fi
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "browser: installed, but /usr/bin/chromium or /usr/bin/chromedriver is still missing" >&2
    return 1
  fi
}
