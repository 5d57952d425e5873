# shellcheck shell=bash
# scripts/chromium.sh - the headless Chromium and chromedriver that the web console's browser tests drive.
#
# Source this file (bash only); it only defines functions and never changes shell options.
#
#   dp_chromium_ensure
#       Finds chromium and chromedriver (the Debian packages `chromium` and `chromium-driver`), installing them with
#       apt-get when missing: directly as root, else with `sudo -n` (`sudo` on a terminal). Exports
#         DP_CHROMIUM        the browser binary
#         DP_CHROMEDRIVER    the matching chromedriver
#       When it cannot install them it says why, exports DP_CHROMIUM_MISSING with that reason and returns 1; the browser
#       tests then fail with the reason (they never pass silently). Either way the rest of the suite can still run.

_dp_chromium_err() { printf 'chromium.sh: %s\n' "$*" >&2; }

_dp_chromium_found() {
  local browser driver
  browser=$(command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null) || return 1
  driver=$(command -v chromedriver 2>/dev/null || { [[ -x /usr/lib/chromium/chromedriver ]] && echo /usr/lib/chromium/chromedriver; }) || return 1
  [[ -n $driver ]] || return 1
  export DP_CHROMIUM=$browser DP_CHROMEDRIVER=$driver
  unset DP_CHROMIUM_MISSING
}

dp_chromium_ensure() {
  _dp_chromium_found && return 0
  local -a sudo=()
  local hint="install them once: sudo apt-get install -y chromium chromium-driver"
  if [[ $EUID -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      export DP_CHROMIUM_MISSING="chromium and chromium-driver are not installed and this user is not root (no sudo); $hint"
      _dp_chromium_err "$DP_CHROMIUM_MISSING"
      return 1
    fi
    if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    export DP_CHROMIUM_MISSING="chromium and chromedriver are not installed and apt-get is unavailable; install Chromium and its matching chromedriver and put both on PATH"
    _dp_chromium_err "$DP_CHROMIUM_MISSING"
    return 1
  fi
  _dp_chromium_err "installing the Debian packages chromium and chromium-driver for the browser tests (one-time)..."
  # Wait for another apt (another checkout's test run, unattended upgrades) instead of failing on its lock.
  local -a apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq)
  "${apt[@]}" update >&2 || _dp_chromium_err "apt-get update failed; trying the install anyway"
  if ! "${apt[@]}" install -y --no-install-recommends chromium chromium-driver >&2 || ! _dp_chromium_found; then
    export DP_CHROMIUM_MISSING="apt-get install chromium chromium-driver failed; $hint"
    _dp_chromium_err "$DP_CHROMIUM_MISSING"
    return 1
  fi
}
