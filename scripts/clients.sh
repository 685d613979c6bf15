# shellcheck shell=bash
# The real clients the end-to-end tests drive: curl (HTTP, FTP), and OpenSSH's sftp,
# ssh-keygen, ssh-keyscan and ssh (tests/sftp.rs, the golden corpus's SFTP door, the README).
# Sourced by scripts/test. Installs Debian's packages with apt only when a command is
# missing; silent when all are present.

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
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      echo "clients: ${pkgs[*]} missing and not root (no sudo): cannot install" >&2
      return 1
    fi
  fi
  echo "clients: installing ${pkgs[*]} with apt" >&2
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  if ! "${apt[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >&2; then
    "${apt[@]}" update -qq >&2 && "${apt[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || {
      echo "clients: cannot install ${pkgs[*]}" >&2
      return 1
    }
  fi
}
