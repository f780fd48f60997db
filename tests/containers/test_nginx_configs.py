"""`nginx -t` on every shipped nginx config inside the nginx image the
deployments name (nginx:1.28-alpine, or its local stand-in from Debian's
development suite): the `resolve` parameter of upstream servers is parsed by
an nginx that has it (1.27.3 or newer), unlike the host's. Names that only
exist inside a deployment are given to the container as host entries."""

import pytest
from docker_tools import ROOT, docker, prepare_docker

pytestmark = pytest.mark.containers

CONFIGS = {
    "compose": ROOT / "nginx" / "nginx.conf",
    "swarm": ROOT / "deploy" / "swarm" / "nginx.conf",
    "kubernetes": ROOT / "deploy" / "kubernetes" / "nginx.conf",
}
# Session affinity: nginx/sticky/<mode>, mounted as /etc/nginx/sticky by
# compose and Swarm (the Kubernetes config has ip_hash in place).
STICKY_MODES = ("ip_hash", "cookie")
# Resolved when the config is loaded: the resolver's own name.
HOSTS = ["kube-dns.kube-system.svc.cluster.local:127.0.0.1"]


@pytest.fixture(scope="module")
def nginx_image():
    prepare_docker()
    version = docker("run", "--rm", "nginx:1.28-alpine", "nginx", "-v").stderr
    major, minor, patch = map(int, version.split("/")[1].split()[0].split("."))
    assert (major, minor, patch) >= (1, 27, 3), version
    return "nginx:1.28-alpine"


@pytest.mark.parametrize("sticky", STICKY_MODES)
@pytest.mark.parametrize("deployment", sorted(CONFIGS))
def test_nginx_accepts_the_config(nginx_image, deployment, sticky):
    args = [a for host in HOSTS for a in ("--add-host", host)]
    result = docker(
        "run",
        "--rm",
        *args,
        "-v",
        f"{CONFIGS[deployment]}:/etc/nginx/nginx.conf:ro",
        "-v",
        f"{ROOT / 'nginx' / 'sticky' / sticky}:/etc/nginx/sticky:ro",
        nginx_image,
        "nginx",
        "-t",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
