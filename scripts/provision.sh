#!/usr/bin/env bash
# What sub4's tests need from the system, installed from Debian when missing.
# `npm test` runs this first (package.json "pretest"), and so does .ci/run, so a
# bare Debian machine passes the same suite CI passes:
#   - chromium: the browser the e2e tests drive, and its SwiftShader Vulkan
#     driver (/usr/lib/chromium/vk_swiftshader_icd.json), the GPU every other
#     GPU test runs on through Dawn;
#   - libvulkan1: the Vulkan loader Dawn opens;
#   - mesa-vulkan-drivers >= 24 (lavapipe): the one driver without a GPU whose
#     WebGPU adapter grants shader-f16, for the f16 kernels' tests. Debian 12's
#     own mesa 22 lacks a feature Dawn requires; bookworm-backports has 25.
# It installs only as root or with passwordless sudo; otherwise it stops at
# once and prints the exact command to run. The Debian mirror is the one this
# system's apt already uses (never a host name written here).
# SUB4_SKIP_PROVISION=1 skips it (a machine set up by other means).
set -euo pipefail

[ "${SUB4_SKIP_PROVISION:-}" = 1 ] && exit 0

SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
LAVAPIPE_ICD=/usr/share/vulkan/icd.d/lvp_icd.json

missing_base=()
[ -x /usr/bin/chromium ] && [ -f "$SWIFTSHADER_ICD" ] || missing_base+=(chromium)
# (captured first: grep -q closing the pipe early would fail it under pipefail)
libs=$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true)
case "$libs" in *libvulkan.so.1*) ;; *) missing_base+=(libvulkan1) ;; esac
need_lavapipe=0
[ -f "$LAVAPIPE_ICD" ] || need_lavapipe=1

if [ ${#missing_base[@]} -eq 0 ] && [ $need_lavapipe = 0 ]; then
  exit 0
fi

if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  echo "provision: the tests need Chromium (with its SwiftShader Vulkan driver), the Vulkan loader and mesa's lavapipe (>= 24)." >&2
  echo "provision: this is not a Debian system; install them with your package manager, then run 'SUB4_SKIP_PROVISION=1 npm test'." >&2
  exit 1
fi

# The URI of the apt source that serves a suite ($1), from deb822 .sources files or one-line lists.
debian_mirror() {
  local f one_line
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$1" 'BEGIN { RS = ""; FS = "\n" } {
      uri = ""; suites = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri = u[1] }
        if ($i ~ /^Suites:/) suites = " " $i " "
      }
      if (uri != "" && index(suites, " " suite " ") > 0) print uri
    }' "$f"
  done
  one_line=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  printf '%s\n' "$one_line" | awk -v suite="$1" '$1 == "deb" { o = 2; if ($2 ~ /^\[/) { while ($o !~ /\]$/) o++; o++ } if ($(o + 1) == suite) print $o }'
}

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
plan=()
[ ${#missing_base[@]} -gt 0 ] && plan+=("apt-get install -y ${missing_base[*]}")
backports=""
if [ $need_lavapipe = 1 ]; then
  if [ "$codename" = bookworm ]; then
    mirror=$(debian_mirror bookworm | head -n 1)
    if [ -z "$mirror" ]; then
      echo "provision: mesa's lavapipe >= 24 comes from bookworm-backports, but no apt source in /etc/apt serves bookworm to take its mirror from." >&2
      exit 1
    fi
    backports="deb $mirror bookworm-backports main"
    plan+=("echo '$backports' > /etc/apt/sources.list.d/sub4-bookworm-backports.list" "apt-get install -y -t bookworm-backports mesa-vulkan-drivers")
  else
    plan+=("apt-get install -y mesa-vulkan-drivers")
  fi
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  else
    echo "provision: the tests need packages this machine lacks, and installing them needs root. Run:" >&2
    echo "  sudo apt-get update" >&2
    for step in "${plan[@]}"; do echo "  sudo sh -c \"$step\"" >&2; done
    echo "then npm test again." >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "provision: installing what the tests need from Debian: ${missing_base[*]} $([ $need_lavapipe = 1 ] && echo 'mesa-vulkan-drivers (lavapipe)')" >&2
if [ -n "$backports" ]; then
  echo "$backports" | $SUDO tee /etc/apt/sources.list.d/sub4-bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
if [ ${#missing_base[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq "${missing_base[@]}" >/dev/null
fi
if [ $need_lavapipe = 1 ]; then
  if [ -n "$backports" ]; then
    $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
  else
    $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  fi
fi
[ -f "$LAVAPIPE_ICD" ] || { echo "provision: mesa-vulkan-drivers installed, but $LAVAPIPE_ICD is missing (mesa older than 24?)" >&2; exit 1; }
echo "provision: done" >&2
