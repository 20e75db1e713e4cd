#!/bin/sh
# Removing (not upgrading): stop the service. Its cursors stay in
# /var/lib/duo-connector.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop 'duo-connector.service' 'duo-connector@*.service' || true
	fi
	;;
esac
