#!/bin/sh
# Installs podflow's CNI plugin on the host (an init container's job):
# podflow-cni and host-local into $CNI_BIN_DIR, and a conflist with host-local
# IPAM for the node's pod CIDR into $CNI_CONF_DIR. The pod CIDR comes from
# $PODFLOW_POD_CIDR, or else from the Node object's spec.podCIDR (read with
# the pod's service account). It is also written to
# $PODFLOW_STATE_DIR/pod-cidr for the agent container.
set -eu
CNI_BIN_DIR=${CNI_BIN_DIR:-/host/opt/cni/bin}
CNI_CONF_DIR=${CNI_CONF_DIR:-/host/etc/cni/net.d}
STATE=${PODFLOW_STATE_DIR:-/var/lib/podflow}
# The agent's API socket as the host sees it (the CNI plugin runs on the host).
SOCKET=${PODFLOW_API_SOCKET:-/var/lib/podflow/podflow.sock}

CIDR=${PODFLOW_POD_CIDR:-}
if [ -z "$CIDR" ]; then
    SA=/var/run/secrets/kubernetes.io/serviceaccount
    CIDR=$(curl -sSf --cacert "$SA/ca.crt" -H "Authorization: Bearer $(cat "$SA/token")" \
        "https://kubernetes.default.svc/api/v1/nodes/${NODE_NAME:?NODE_NAME is not set}" \
        | sed -n 's/.*"podCIDR": *"\([^"]*\)".*/\1/p' | head -n1)
fi
[ -n "$CIDR" ] || { echo "no pod CIDR: set PODFLOW_POD_CIDR or give the node a spec.podCIDR" >&2; exit 1; }

# Gateway: the first address of the CIDR (the agent gives it to its gateway port).
ip=${CIDR%/*}
IFS=. read -r a b c d <<EOT
$ip
EOT
n=$(( (a << 24) + (b << 16) + (c << 8) + d + 1 ))
GW="$(( (n >> 24) & 255 )).$(( (n >> 16) & 255 )).$(( (n >> 8) & 255 )).$(( n & 255 ))"

mkdir -p "$CNI_BIN_DIR" "$CNI_CONF_DIR" "$STATE"
install -m 0755 /usr/local/bin/podflow-cni "$CNI_BIN_DIR/podflow-cni.tmp"
mv -f "$CNI_BIN_DIR/podflow-cni.tmp" "$CNI_BIN_DIR/podflow-cni"
[ -x "$CNI_BIN_DIR/host-local" ] || install -m 0755 /usr/lib/cni/host-local "$CNI_BIN_DIR/host-local"
cat > "$CNI_CONF_DIR/10-podflow.conflist.tmp" <<EOT
{
  "cniVersion": "1.0.0",
  "name": "podflow",
  "plugins": [
    {
      "type": "podflow-cni",
      "agentSocket": "$SOCKET",
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$CIDR", "gateway": "$GW" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    }
  ]
}
EOT
mv -f "$CNI_CONF_DIR/10-podflow.conflist.tmp" "$CNI_CONF_DIR/10-podflow.conflist"
printf '%s\n' "$CIDR" > "$STATE/pod-cidr"
echo "installed podflow-cni for pod CIDR $CIDR (gateway $GW)"
