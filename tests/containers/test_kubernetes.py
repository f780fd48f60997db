"""deploy/kubernetes, checked statically: no Kubernetes can run on this machine,
so the manifests are rendered with `kubectl kustomize` and validated strictly
(unknown fields refused) against the API schemas kubernetes-validate bundles,
and their shape is held to what docs/kubernetes.md promises. Whether pods
schedule, probes pass and nginx finds the pods is not exercised here.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from docker_tools import ROOT

pytestmark = pytest.mark.containers

KUSTOMIZE_DIR = ROOT / "deploy" / "kubernetes"
NAMESPACE = "chat"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.fail("kubectl is not installed: the Kubernetes manifests cannot be rendered")
    work = tmp_path_factory.mktemp("kustomize") / "kubernetes"
    shutil.copytree(KUSTOMIZE_DIR, work, ignore=shutil.ignore_patterns("secrets.env"))
    (work / "secrets.env").write_text(
        "secret_key=rendered-by-a-test\npostgres_password=renderedbyatest\n"
    )
    result = subprocess.run(
        [kubectl, "kustomize", str(work)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = work / "rendered.yaml"
    out.write_text(result.stdout)
    return out, [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def test_rendered_manifests_validate_strictly(rendered):
    path, docs = rendered
    validator = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validator), "--strict", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(docs) and "failed" not in result.stdout


def test_everything_in_one_namespace(rendered):
    _, docs = rendered
    by_kind(docs, "Namespace", NAMESPACE)
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]


def test_api_deployment_probes_drain_non_root_and_requests(rendered):
    _, docs = rendered
    spec = by_kind(docs, "Deployment", "api")["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (api,) = pod["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > 20 + 10  # gunicorn's 20 s after preStop
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert api["securityContext"]["allowPrivilegeEscalation"] is False
    assert api["resources"]["requests"]["cpu"] and api["resources"]["requests"]["memory"]
    assert api["args"][:2] == ["./entrypoint.sh", "serve"]
    # The replicas wait for the migrate Job's schema before serving.
    (wait,) = pod["initContainers"]
    assert wait["args"] == ["./entrypoint.sh", "serve", "true"]


def test_migrator_is_a_job(rendered):
    _, docs = rendered
    job = by_kind(docs, "Job", "migrate")["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["./entrypoint.sh", "migrate", "true"]
    assert job["securityContext"]["runAsNonRoot"] is True


def test_secrets_come_from_a_file_out_of_git(rendered):
    _, docs = rendered
    secret = by_kind(docs, "Secret", "chat-secrets")
    assert set(secret["data"]) == {"secret_key", "postgres_password"}
    settings = by_kind(docs, "ConfigMap", "chat-settings")["data"]
    assert (
        "@db:5432/" in settings["DATABASE_URL"]
        and ":" not in settings["DATABASE_URL"].split("//")[1].split("@")[0]
    )
    assert "SEED_DEMO" not in settings
    assert "deploy/kubernetes/secrets.env" in (ROOT / ".gitignore").read_text()


def test_services_autoscaler_and_nginx(rendered):
    _, docs = rendered
    assert by_kind(docs, "Service", "api")["spec"]["clusterIP"] == "None"  # one record per pod
    nginx_service = by_kind(docs, "Service", "nginx")["spec"]
    assert nginx_service["externalTrafficPolicy"] == "Local"  # ip_hash sees the client
    for name in ("db", "redis"):
        by_kind(docs, "Service", name)
    hpa = by_kind(docs, "HorizontalPodAutoscaler", "api")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    conf = by_kind(docs, "ConfigMap", "nginx-conf")["data"]["nginx.conf"]
    assert conf == (KUSTOMIZE_DIR / "nginx.conf").read_text()
    assert f"server api.{NAMESPACE}.svc.cluster.local:5000 resolve" in conf


def test_nginx_kubernetes_config_is_the_compose_one_but_for_dns():
    body = lambda p: [ln for ln in p.read_text().splitlines() if not ln.startswith("#")]  # noqa
    compose = body(ROOT / "nginx" / "nginx.conf")
    kube = body(KUSTOMIZE_DIR / "nginx.conf")
    only_compose = [ln.strip() for ln in compose if ln not in kube]
    only_kube = [ln.strip() for ln in kube if ln not in compose]
    # Compose chooses its session affinity (STICKY: nginx/sticky/); here it is
    # ip_hash in place (docs/kubernetes.md: cookie affinity).
    assert [ln for ln in only_compose if not ln.startswith("#")] == [
        "resolver 127.0.0.11 valid=10s ipv6=off;",
        "include /etc/nginx/sticky/http.conf;",
        "include /etc/nginx/sticky/upstream.conf;",
        "server migrator:5000 resolve max_fails=1 fail_timeout=2s;",
        "server api:5000 resolve max_fails=1 fail_timeout=2s;",
        "add_header Set-Cookie $chat_affinity_cookie always;",
    ]
    assert [ln for ln in only_kube if not ln.startswith("#")] == [
        "resolver kube-dns.kube-system.svc.cluster.local valid=10s ipv6=off;",
        "ip_hash;",
        "server api.chat.svc.cluster.local:5000 resolve max_fails=1 fail_timeout=2s;",
    ]


def test_the_database_is_backed_up_nightly_to_a_volume(rendered):
    _, docs = rendered
    cron = by_kind(docs, "CronJob", "db-backup")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    script = container["command"][-1]
    assert "pg_dump --format=custom" in script
    assert (
        container["image"]
        == by_kind(docs, "StatefulSet", "db")["spec"]["template"]["spec"]["containers"][0]["image"]
    )  # pg_dump of the server's own major version
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes["backups"]["persistentVolumeClaim"]["claimName"]
    by_kind(docs, "PersistentVolumeClaim", claim)
    assert volumes["secrets"]["secret"]["secretName"].startswith("chat-secrets")
