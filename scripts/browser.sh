# shellcheck shell=bash
# Headless Chromium and chromedriver for the browser end-to-end test (tests/upload_browser.rs).
# Sourced by scripts/test. Installs Debian's `chromium` and `chromium-driver` with apt only
# when /usr/bin/chromium or /usr/bin/chromedriver is missing, and a Chinese font (the pages
# and sheets carry Chinese text; without one the screenshots show empty boxes) when there is
# none; silent when all are present.

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

browser_install() {
  if [ ! -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
    apt_install chinese-font fonts-wqy-zenhei || return 1
  fi
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return 0
  fi
  apt_install browser chromium chromium-driver || return 1
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "browser: installed, but /usr/bin/chromium or /usr/bin/chromedriver is still missing" >&2
    return 1
  fi
}
