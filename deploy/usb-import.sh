#!/bin/sh
# Parlo: act on a USB stick. Run by parlo-usb-import@.service as root:
#
#   usb-import.sh /dev/sdb1
#
# Mounts the stick read-only (never running, or trusting set-uid bits or device files
# from, anything on it), runs `parlo models usb` on it as $PARLO_USER, and unmounts it.
# A stick carrying `parlo-reset-pin` is remounted writable, so the PIN reset can leave
# the new PIN on it. If the current model set changed, the daemon is restarted.
set -eu

device=$1
user=${PARLO_USER:-parlo}
store=${PARLO_HOME:-/var/lib/parlo}/models
mount_point=/run/parlo-usb/$(basename "$device")
options=nosuid,nodev,noexec
owner=""
if id "$user" >/dev/null 2>&1; then
    # FAT and exFAT have no owners; these make the files the importer's.
    owner=",uid=$(id -u "$user"),gid=$(id -g "$user")"
fi

mkdir -p "$mount_point"
cleanup() {
    umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null || true
    rmdir "$mount_point" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The first option set that this filesystem and kernel accept. nosymfollow (Linux 5.10+)
# is one more guard against symlinks on the stick; uid= is only for owner-less filesystems.
mounted=no
for extra in "$owner,nosymfollow" "$owner" ",nosymfollow" ""; do
    if mount -o "ro,$options$extra" "$device" "$mount_point" 2>/dev/null; then
        mounted=yes
        break
    fi
done
if [ "$mounted" = no ]; then
    echo "cannot mount $device" >&2
    exit 1
fi

if [ -f "$mount_point/parlo-reset-pin" ] && [ ! -L "$mount_point/parlo-reset-pin" ]; then
    mount -o "remount,rw" "$mount_point"
fi

before=$(readlink "$store/current" 2>/dev/null || true)
status=0
if [ -n "$owner" ]; then
    runuser -u "$user" -- parlo models usb "$mount_point" || status=$?
else
    parlo models usb "$mount_point" || status=$?
fi
sync
after=$(readlink "$store/current" 2>/dev/null || true)

if [ "$before" != "$after" ]; then
    systemctl try-reload-or-restart parlo.service || true
fi
exit "$status"
