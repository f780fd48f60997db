#!/bin/sh
# The engine of one swarm node (deploy/swarm/node/Dockerfile). Its API on the
# usual socket and, when /run/chat-node is mounted, on a socket there too, so
# that the host's docker CLI can drive the node (DOCKER_HOST=unix://...).
# NODE_STORAGE_DRIVER: overlay2 (the default; /var/lib/docker must be a volume,
# not the container's own overlay root) or vfs (works anywhere, copies every
# layer). Further dockerd flags in NODE_DOCKERD_ARGS; none may repeat a setting
# of /etc/docker/daemon.json (deploy/swarm/node/daemon.json: no-new-privileges
# for every container), or dockerd refuses to start ("specified both as a flag
# and in the configuration file").
#
# The container may run without --privileged (scripts/swarm-nodes.sh says
# why): with every capability it can have, no seccomp or AppArmor profile, its
# /proc unmasked and a cgroup namespace of its own. Then /sys and the cgroup
# hierarchies are read-only mounts: /sys is remounted writable and each cgroup
# hierarchy mounted afresh (in the private namespace its root is this
# container's own cgroup), as the engine needs to make its containers' cgroups.
set -eu
if grep -q '^sysfs /sys sysfs ro' /proc/self/mounts; then
    mount -o remount,rw /sys
fi
grep ' cgroup ' /proc/self/mounts | while read -r _ dir _ opts _; do
    case ",$opts," in *,rw,*) continue ;; esac
    controllers="$(echo "$opts" | tr , '\n' \
        | grep -vxE 'ro|rw|nosuid|nodev|noexec|relatime' | paste -sd, -)"
    umount "$dir"
    mount -t cgroup -o "rw,nosuid,nodev,noexec,$controllers" cgroup "$dir"
done
hosts="--host unix:///var/run/docker.sock"
if [ -d /run/chat-node ]; then
    rm -f /run/chat-node/docker.sock
    hosts="$hosts --host unix:///run/chat-node/docker.sock"
fi
# shellcheck disable=SC2086
exec dockerd $hosts --storage-driver "${NODE_STORAGE_DRIVER:-overlay2}" ${NODE_DOCKERD_ARGS:-}
