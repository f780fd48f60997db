"""`nginx -t` on every shipped nginx config inside the nginx image the
deployments run (nginx/Dockerfile: nginx:1.28-alpine, or its local stand-in
from Debian's development suite, with tls-entrypoint.sh): the `resolve`
parameter of upstream servers is parsed by an nginx that has it (1.27.3 or
newer), unlike the host's, and the certificate and redirect port the
entrypoint puts in place at start are there. Names that only exist inside a
deployment are given to the container as host entries."""

import pytest
from docker_tools import ROOT, docker, prepare_docker

IMAGE = "chat-nginx-test:latest"

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
    docker("build", "-q", "-t", IMAGE, str(ROOT / "nginx"), timeout=900)
    version = docker("run", "--rm", IMAGE, "nginx", "-v").stderr
    major, minor, patch = map(int, version.split("/")[-1].split()[0].split("."))
    assert (major, minor, patch) >= (1, 27, 3), version
    return IMAGE


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
