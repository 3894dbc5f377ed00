#!/bin/sh
# Parlo: the privileged edges of acting on a USB stick. parlo-usb-import@.service runs
#
#   usb-import.sh mount /dev/sdb1      (ExecStartPre=+, as root)
#   usb-import.sh unmount /dev/sdb1    (ExecStopPost=+, as root)
#
# and, between the two, `parlo models usb /run/parlo-usb/sdb1` as the parlo user in the
# unit's sandbox (no network, read-only system, only the model store and the presence
# directory writable). This script never runs anything from the stick.
#
# mount: only a vfat or exfat filesystem is mounted, read-only, nosuid, nodev, noexec,
# its files owned by parlo (FAT and exFAT have no owners of their own). A stick carrying
# `parlo-reset-pin` is remounted writable, so the (confirmed) PIN reset can leave the new
# PIN on it. Without a parlo user nothing is mounted: the import never runs as root.
# unmount: unmounts, and restarts the daemon if the current model set changed.
set -eu

action=${1:-}
device=${2:-}
user=${PARLO_USER:-parlo}
store=${PARLO_HOME:-/var/lib/parlo}/models
root=${PARLO_USB_ROOT:-/run/parlo-usb}

case $device in
    /dev/*) ;;
    *) echo "usage: $0 mount|unmount /dev/DEVICE" >&2; exit 2 ;;
esac
name=$(basename "$device")
mount_point=$root/$name

case $action in
mount)
    if ! id "$user" >/dev/null 2>&1; then
        echo "the user $user is missing: refusing to act on $device as root (run deploy/install.sh)" >&2
        exit 1
    fi
    fstype=$(blkid -o value -s TYPE "$device" 2>/dev/null || true)
    case $fstype in
        vfat|exfat) ;;
        *)
            echo "$device holds a ${fstype:-unknown} filesystem; Parlo only reads vfat and exfat sticks" >&2
            exit 1
            ;;
    esac
    owner="uid=$(id -u "$user"),gid=$(id -g "$user"),fmask=0137,dmask=0027"
    mkdir -p "$mount_point"
    # nosymfollow (Linux 5.10+) is one more guard against symlinks on the stick.
    if ! mount -t "$fstype" -o "ro,nosuid,nodev,noexec,$owner,nosymfollow" "$device" "$mount_point" 2>/dev/null \
        && ! mount -t "$fstype" -o "ro,nosuid,nodev,noexec,$owner" "$device" "$mount_point"; then
        rmdir "$mount_point" 2>/dev/null || true
        echo "cannot mount $device" >&2
        exit 1
    fi
    if [ -f "$mount_point/parlo-reset-pin" ] && [ ! -L "$mount_point/parlo-reset-pin" ]; then
        mount -o "remount,rw" "$mount_point"
    fi
    readlink "$store/current" > "$root/$name.before" 2>/dev/null || : > "$root/$name.before"
    ;;
unmount)
    sync
    umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null || true
    rmdir "$mount_point" 2>/dev/null || true
    before=$(cat "$root/$name.before" 2>/dev/null || true)
    rm -f "$root/$name.before"
    after=$(readlink "$store/current" 2>/dev/null || true)
    if [ "$before" != "$after" ]; then
        systemctl try-reload-or-restart parlo.service || true
    fi
    ;;
*)
    echo "usage: $0 mount|unmount /dev/DEVICE" >&2
    exit 2
    ;;
esac
