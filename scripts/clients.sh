# shellcheck shell=bash
# The real clients the end-to-end tests drive: curl (HTTP, FTP), and OpenSSH's sftp,
# ssh-keygen, ssh-keyscan and ssh (tests/sftp.rs, the golden corpus's SFTP door, the README).
# Sourced by scripts/test. Installs Debian's packages with apt only when a command is
# missing; silent when all are present.

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

clients_install() {
  local pkgs=()
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  local c
  for c in sftp ssh ssh-keygen ssh-keyscan; do
    if ! command -v "$c" >/dev/null 2>&1; then
      pkgs+=(openssh-client)
      break
    fi
  done
  if [ "${#pkgs[@]}" -eq 0 ]; then
    return 0
  fi
  apt_install clients "${pkgs[@]}"
}
