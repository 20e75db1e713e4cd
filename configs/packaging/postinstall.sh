#!/bin/sh
# duo-connector's package: the system user, the state directory, the
# configuration readable by the service only. The service is not started:
# it needs its configuration first.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/duo-connector.conf
elif ! getent passwd duo-connector >/dev/null 2>&1; then
	useradd --system --user-group --home-dir /var/lib/duo-connector --no-create-home \
		--shell /usr/sbin/nologin --comment "duo-connector, Duo Security logs to Kafka" duo-connector
fi
install -d -o duo-connector -g duo-connector -m 0700 /var/lib/duo-connector
chgrp duo-connector /etc/duo-connector/duo-connector.yaml
chmod 0640 /etc/duo-connector/duo-connector.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
echo "duo-connector: edit /etc/duo-connector/duo-connector.yaml (duo-connector config check --config ...), then: systemctl enable --now duo-connector"
