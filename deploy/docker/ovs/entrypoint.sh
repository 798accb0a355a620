#!/bin/sh
# Starts ovsdb-server, presets other_config:flow-restore-wait=true, then runs
# ovs-vswitchd in the foreground (the container lives as long as it does).
# The key is what keeps a restarted ovs-vswitchd from forwarding with an
# empty flow table: podflow removes it once every pod's flows are back.
set -eu
RUN=/var/run/openvswitch
DB=/etc/openvswitch/conf.db
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
mkdir -p "$RUN" /etc/openvswitch /var/log/openvswitch

# Debian's package makes conf.db a symlink into /var/lib/openvswitch, and
# Docker copies that symlink into a new volume: the database would then live
# in the container's own layer and be lost when the container is recreated.
# The volume must hold the file itself.
if [ -L "$DB" ]; then
    rm -f "$DB" /etc/openvswitch/.conf.db.~lock~
fi
if [ ! -s "$DB" ]; then
    ovsdb-tool create "$DB" "$SCHEMA"
elif [ "$(ovsdb-tool needs-conversion "$DB" "$SCHEMA")" = yes ]; then
    ovsdb-tool convert "$DB" "$SCHEMA"
fi
# A previous container's ovsdb-server may have left its pidfile behind.
rm -f "$RUN/ovsdb-server.pid" "$RUN/ovs-vswitchd.pid"

# Both daemons at nice -10, as Debian's ovs-ctl starts them (SYS_NICE): the
# switch must react to the key's removal promptly on a busy node.
nice -n -10 ovsdb-server "$DB" \
    --remote="punix:$RUN/db.sock" \
    --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
    --pidfile="$RUN/ovsdb-server.pid" --unixctl="$RUN/ovsdb-server.ctl" \
    --log-file=/var/log/openvswitch/ovsdb-server.log --detach
ovs-vsctl --db="unix:$RUN/db.sock" --no-wait init
# Before ovs-vswitchd starts: the key is read once, at its start.
ovs-vsctl --db="unix:$RUN/db.sock" --no-wait set Open_vSwitch . other_config:flow-restore-wait=true

stop() {
    ovs-appctl -t "$RUN/ovs-vswitchd.ctl" exit 2>/dev/null || true
    ovs-appctl -t "$RUN/ovsdb-server.ctl" exit 2>/dev/null || true
}
trap stop TERM INT
nice -n -10 ovs-vswitchd "unix:$RUN/db.sock" \
    --pidfile="$RUN/ovs-vswitchd.pid" --unixctl="$RUN/ovs-vswitchd.ctl" \
    --log-file=/var/log/openvswitch/ovs-vswitchd.log --mlockall &
VSWITCHD=$!
wait "$VSWITCHD" || true
stop
