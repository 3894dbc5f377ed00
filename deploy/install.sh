#!/bin/bash
# Install Parlo as an appliance: it starts at boot, and the big button works.
#
#   sudo deploy/install.sh                        install, or update in place
#   sudo deploy/install.sh --models-from /media/usb   take the models from a USB stick
#   sudo deploy/install.sh --new-pin              also make a new PIN for the config page
#   sudo deploy/install.sh --no-models            skip the models (e.g. building an SD image)
#   sudo deploy/install.sh --trust-key school.pub take only packs signed by this key from now on
#
# For Raspberry Pi OS or Debian, run as root from a copy of the Parlo source. Running it
# again is safe: each step checks what is already there. What it does, in order:
#
#   1. installs the Debian packages (deploy/apt-packages.txt, plus lgpio on a Pi);
#   2. creates the system user "parlo" in the audio, gpio and input groups;
#   3. builds Parlo into a virtual environment in /opt/parlo/venv;
#   4. fetches the default models, or imports them from a USB stick;
#   5. makes the config page's PIN (once) and prints it; building an image (no systemd
#      running), it makes none: each box flashed from the image makes its own at first
#      boot (parlo-first-boot.service) and says it on the first long hold of the button;
#   6. installs and starts the systemd units, then runs `parlo doctor`.
#
# Trusted signing keys live in /etc/parlo-keys, root's and only readable by parlo: nothing
# running as parlo (the page, a model file's parser) can add one.
#
# Afterwards, `parlo ...` works for root too: it runs as the parlo user with the
# appliance's paths (/var/lib/parlo for state, /etc/parlo/config.toml for settings).

set -euo pipefail

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/opt/parlo
VENV=$PREFIX/venv
STATE=/var/lib/parlo
CONFIG_DIR=/etc/parlo
KEYS_DIR=/etc/parlo-keys
USER_NAME=parlo

models_from=""
fetch_models=yes
new_pin=no
trust_keys=()
while [ $# -gt 0 ]; do
    case $1 in
        --models-from) models_from=$2; shift 2 ;;
        --no-models) fetch_models=no; shift ;;
        --new-pin) new_pin=yes; shift ;;
        --trust-key) trust_keys+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "Run as root: sudo $0 $*" >&2
    exit 1
fi
if [ ! -f "$SOURCE/pyproject.toml" ]; then
    echo "Run this from the Parlo source (no pyproject.toml in $SOURCE)" >&2
    exit 1
fi
on_a_pi=no
if grep -qs "Raspberry Pi" /proc/device-tree/model; then
    on_a_pi=yes
fi
under_systemd=no
if [ -d /run/systemd/system ]; then
    under_systemd=yes
fi

# --- 1. Debian packages ------------------------------------------------------------------------
step "Installing Debian packages"
packages=$(grep -v '^\s*#' "$SOURCE/deploy/apt-packages.txt" | xargs)
packages="$packages alsa-utils"  # arecord/aplay -l: a technician's first look at sound devices
packages="$packages polkitd"  # lets the parlo user, alone, power off and reboot (deploy/polkit)
if [ "$on_a_pi" = yes ] && apt-cache show python3-lgpio >/dev/null 2>&1; then
    packages="$packages python3-lgpio"  # GPIO for gpiozero; the venv sees system packages
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # one word per package
apt-get install -y -q --no-install-recommends $packages

# --- 2. The user -------------------------------------------------------------------------------
step "Creating the user $USER_NAME"
if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "Parlo appliance" "$USER_NAME"
fi
# gpio exists on Raspberry Pi OS; elsewhere make it, so the udev rule below has a group to use.
getent group gpio >/dev/null || groupadd --system gpio
for group in audio gpio input; do
    usermod --append --groups "$group" "$USER_NAME"
done
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$STATE"
# The config page saves settings here, so the group may write (setgid keeps files in it).
install -d -o root -g "$USER_NAME" -m 2770 "$CONFIG_DIR"
# Where the USB import writes: the model store, and where a PIN reset or an unsigned pack
# waits for a hold at the box (parlo-usb-import@.service may write nothing else).
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$STATE/models"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$STATE/presence"

# Trusted signing keys: root's, readable by parlo, writable by nobody else. Keys an older
# version read from $CONFIG_DIR or $STATE/keys (both writable by parlo) move here once.
install -d -o root -g root -m 0755 "$KEYS_DIR"
for key in "${trust_keys[@]}" "$CONFIG_DIR"/*.pub "$STATE"/keys/*.pub; do
    [ -f "$key" ] || continue
    if ! grep -q "BEGIN PUBLIC KEY" "$key"; then
        echo "$key is not a public key (a .pub from parlo models keygen)" >&2
        exit 1
    fi
    install -o root -g root -m 0644 "$key" "$KEYS_DIR/$(basename "$key")"
    echo "trusting $key: from now on only packs signed by a trusted key are taken"
done

# Let the parlo group drive the GPIO chips (Raspberry Pi OS already does) and kernel LEDs
# such as a laptop's Scroll Lock, whose files are root's by default.
cat > /etc/udev/rules.d/60-parlo-devices.rules <<'EOF'
# Installed by Parlo's deploy/install.sh.
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
SUBSYSTEM=="leds", ACTION=="add", RUN+="/bin/chgrp parlo /sys%p/brightness /sys%p/trigger", RUN+="/bin/chmod g+w /sys%p/brightness /sys%p/trigger"
EOF
install -m 0644 "$SOURCE/deploy/udev/90-parlo-usb.rules" /etc/udev/rules.d/90-parlo-usb.rules
# The page's Shut down and Restart, and the 30 s hold: parlo may ask logind, nothing more.
install -d -m 0755 /etc/polkit-1/rules.d
install -m 0644 "$SOURCE/deploy/polkit/50-parlo-power.rules" /etc/polkit-1/rules.d/50-parlo-power.rules
if [ "$under_systemd" = yes ]; then
    udevadm control --reload
    udevadm trigger --subsystem-match=gpio --subsystem-match=leds --action=add || true
fi

# --- 3. Parlo itself ---------------------------------------------------------------------------
step "Building Parlo into $VENV (the first time takes a while: llama.cpp compiles)"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv --system-site-packages "$VENV"
fi
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
"$VENV/bin/pip" install -q --upgrade pip wheel
"$VENV/bin/pip" install -q "${SOURCE}[systemd]" "evdev>=1.7"
if [ "$on_a_pi" = yes ] && ! "$VENV/bin/python" -c "import lgpio" 2>/dev/null; then
    "$VENV/bin/pip" install -q "lgpio>=0.2"
fi
install -d "$PREFIX/docs" /usr/lib/parlo
install -m 0644 "$SOURCE"/docs/*.md "$SOURCE/deploy/wiring.md" "$PREFIX/docs/"
install -m 0755 "$SOURCE/deploy/usb-import.sh" /usr/lib/parlo/usb-import.sh

# `parlo` for people and scripts: the appliance's paths, run as the parlo user.
cat > /usr/local/bin/parlo <<EOF
#!/bin/sh
# Installed by Parlo's deploy/install.sh: run parlo with the appliance's paths.
export PARLO_HOME=\${PARLO_HOME:-$STATE}
export PARLO_CONFIG=\${PARLO_CONFIG:-$CONFIG_DIR/config.toml}
export PARLO_KEYS_DIR=\${PARLO_KEYS_DIR:-$KEYS_DIR}
if [ "\$(id -u)" = 0 ]; then
    exec runuser -u $USER_NAME -- env PARLO_HOME="\$PARLO_HOME" PARLO_CONFIG="\$PARLO_CONFIG" \\
        PARLO_KEYS_DIR="\$PARLO_KEYS_DIR" $VENV/bin/parlo "\$@"
fi
exec $VENV/bin/parlo "\$@"
EOF
chmod 0755 /usr/local/bin/parlo

# --- 4. Models ---------------------------------------------------------------------------------
has_models() {
    parlo models list --json 2>/dev/null | grep -q '"current": true'
}
if [ -n "$models_from" ]; then
    step "Importing models from $models_from"
    parlo models import --allow-unsigned "$models_from"  # root, at the box, vouches for it
elif [ "$fetch_models" = no ]; then
    step "Skipping the models (--no-models): the box will ask for them"
elif has_models; then
    step "Models are installed already"
else
    step "Fetching the default models for this machine"
    parlo models fetch
fi

# --- 5. The config page's PIN ------------------------------------------------------------------
step "The config page's PIN"
pin=""
if [ "$under_systemd" = yes ]; then
    pin=$(runuser -u "$USER_NAME" -- env PARLO_HOME="$STATE" NEW_PIN="$new_pin" \
        "$VENV/bin/python" - <<'EOF'
import os
from appliance.web.auth import generate_pin, has_secret, set_secret

if os.environ["NEW_PIN"] == "yes" or not has_secret():
    pin = generate_pin()
    set_secret(pin)
    print(pin)
EOF
)
else
    # An image: every box flashed from it must make its own PIN, at its first boot.
    rm -f "$STATE/web-secret" "$STATE/first-boot-pin"
    echo "Building an image: no PIN now. Each box makes its own at first boot"
    echo "(parlo-first-boot.service); hold the button for 3 seconds to hear it."
fi

# --- 6. The service ----------------------------------------------------------------------------
step "Installing the systemd units"
install -m 0644 "$SOURCE/systemd/parlo.service" /etc/systemd/system/parlo.service
install -m 0644 "$SOURCE/systemd/parlo-usb-import@.service" \
    /etc/systemd/system/parlo-usb-import@.service
install -m 0644 "$SOURCE/systemd/parlo-first-boot.service" \
    /etc/systemd/system/parlo-first-boot.service
if [ "$under_systemd" = yes ]; then
    systemctl daemon-reload
    systemctl enable parlo-first-boot.service parlo.service
    systemctl restart parlo.service  # picks up new code on an update
else
    # Building an image in a chroot: enable for the first boot, start nothing now.
    install -d /etc/systemd/system/multi-user.target.wants
    for unit in parlo-first-boot.service parlo.service; do
        systemctl enable "$unit" || ln -sf "/etc/systemd/system/$unit" \
            "/etc/systemd/system/multi-user.target.wants/$unit"
    done
fi

step "Checking the box"
parlo doctor --quick || true

echo
if [ -n "$pin" ]; then
    echo "************************************************************"
    echo "   Config page PIN: $pin"
    echo "   Write it down: it is shown only now."
    echo "************************************************************"
elif [ "$under_systemd" = yes ]; then
    echo "The config page's PIN is unchanged (make a new one: $0 --new-pin)."
fi
echo "Hold the button for 10 seconds to hear the page's address. Log: journalctl -u parlo"
