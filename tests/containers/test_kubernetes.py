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
        "redis_password=renderedbyatest\n"
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
    assert set(secret["data"]) == {"secret_key", "postgres_password", "redis_password"}
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


def pod_templates(docs):
    """(kind/name, pod spec) of every workload."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


# What a container may add back after dropping every capability (the manifests say why).
ADDED_CAPABILITIES = {
    "postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
    "nginx": {"CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"},
}


def test_every_container_is_limited_read_only_and_without_capabilities(rendered):
    _, docs = rendered
    seen = set()
    for where, pod in pod_templates(docs):
        for container in pod.get("initContainers", []) + pod["containers"]:
            name = f"{where}/{container['name']}"
            seen.add(container["name"])
            limits = container["resources"]["limits"]
            assert limits.get("memory") and limits.get("cpu"), name
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            added = set(context["capabilities"].get("add", []))
            assert added == ADDED_CAPABILITIES.get(container["name"], set()), name
    assert {"api", "wait-for-schema", "migrate", "postgres", "redis", "nginx"} <= seen


def test_redis_requires_the_password_from_the_secret(rendered):
    _, docs = rendered
    pod = by_kind(docs, "Deployment", "redis")["spec"]["template"]["spec"]
    (redis,) = pod["containers"]
    script = " ".join(redis["args"])
    assert "requirepass" in script and "/run/secrets/chat/redis_password" in script
    assert pod["securityContext"]["runAsNonRoot"] is True
    settings = by_kind(docs, "ConfigMap", "chat-settings")["data"]
    assert settings["REDIS_PASSWORD_FILE"] == "/run/secrets/chat/redis_password"
    assert "@" not in settings["REDIS_URL"]  # entrypoint.sh adds the password


def policy_sources(policy):
    """The pod names each ingress rule admits (None: from anywhere)."""
    names = set()
    for rule in policy["spec"]["ingress"]:
        if "from" not in rule:
            return None
        for peer in rule["from"]:
            selector = peer["podSelector"]
            names |= set(selector.get("matchLabels", {}).values())
            for expression in selector.get("matchExpressions", []):
                assert expression["operator"] == "In"
                names |= set(expression["values"])
    return names


def test_network_policies_let_only_the_app_reach_the_stores_and_only_nginx_the_app(rendered):
    _, docs = rendered
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"], deny
    assert deny[0]["spec"]["policyTypes"] == ["Ingress"]
    admitted = {}
    for policy in policies:
        target = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        if target:
            admitted[target] = policy_sources(policy)
    assert admitted == {
        "db": {"api", "migrate"},
        "redis": {"api", "migrate"},
        "api": {"nginx"},
        "nginx": None,
    }, admitted


def test_nginx_serves_https_with_the_operators_certificate(rendered):
    _, docs = rendered
    pod = by_kind(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    (nginx,) = pod["containers"]
    assert nginx["image"] == "chat-nginx:latest"
    assert {p["containerPort"] for p in nginx["ports"]} == {80, 443}
    tls = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "nginx-tls"
    mount = next(m for m in nginx["volumeMounts"] if m["name"] == "tls")
    assert mount["mountPath"] == "/etc/nginx/tls"
    service = by_kind(docs, "Service", "nginx")["spec"]
    assert {p["port"] for p in service["ports"]} == {80, 443}


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
