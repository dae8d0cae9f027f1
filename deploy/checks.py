"""Reads the deployment files for deploy/check: YAML syntax, what the Dockerfile builds and
installs, and the facts the compose file and the Kubernetes manifests must agree on.

Each subcommand prints what the shell script needs (JSON or plain lines) and exits non-zero,
naming the file and the problem, when something does not hold.
"""

import json
import re
import shlex
import sys
from pathlib import Path


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def load_all(path):
    import yaml  # only here: the Dockerfile subcommand runs without PyYAML

    try:
        with open(path, encoding="utf-8") as handle:
            return [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    except yaml.YAMLError as error:
        fail(f"{path}: not valid YAML: {error}")


def cmd_yaml(paths):
    """Every file parses as YAML and holds at least one document."""
    for path in paths:
        if not load_all(path):
            fail(f"{path}: no YAML document")
        print(f"{path}: valid YAML")


def dockerfile_instructions(path):
    """(stage, instruction, arguments) for each instruction, line continuations joined."""
    lines, pending = [], ""
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stage, result = None, []
    for line in lines:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = args.split()
            stage = words[2] if len(words) >= 3 and words[1].upper() == "AS" else words[0]
        result.append((stage, instruction, args.strip()))
    return result


def cmd_dockerfile(path):
    """The build stage's COPY sources and cargo command, the runtime's packages and health check."""
    build_copies, cargo, packages, healthcheck, binary, from_build = [], None, [], None, None, None
    prebuilt_out, binary_stage = None, None
    for stage, instruction, args in dockerfile_instructions(path):
        if stage == "build" and instruction == "COPY":
            build_copies += shlex.split(args)[:-1]
        if stage == "build" and instruction == "RUN":
            match = re.search(r"(cargo build [^&]*?)\s*(&&|$)", args)
            if match:
                cargo = match.group(1).strip()
            match = re.search(r"install -D -m \d+ (\S+) (\S+)", args)
            if match:
                binary = {"built": match.group(1), "out": match.group(2)}
        if stage == "runtime" and instruction == "RUN" and "apt-get install" in args:
            words = args.split("apt-get install", 1)[1].split("&&", 1)[0].split()
            packages += [w for w in words if not w.startswith("-")]
        if stage == "prebuilt" and instruction == "COPY":
            prebuilt_out = shlex.split(args)[-1]
        if stage == "binary" and instruction == "FROM":
            binary_stage = args.split()[0]
        if stage == "runtime" and instruction == "COPY" and args.startswith("--from=binary"):
            from_build = shlex.split(args)[1]
        if stage == "runtime" and instruction == "HEALTHCHECK":
            healthcheck = json.loads(args.split("CMD", 1)[1].strip())
    if not cargo or not binary:
        fail(f"{path}: no `cargo build` and `install -D` in the build stage")
    # The runtime stage copies from `binary`, which is `build` or `prebuilt` (ARG AUTHD_BINARY).
    if binary_stage != "${AUTHD_BINARY}":
        fail(f"{path}: the stage `binary` is FROM {binary_stage}, not ${{AUTHD_BINARY}}")
    if from_build != binary["out"] or prebuilt_out != binary["out"]:
        fail(f"{path}: the runtime stage copies {from_build}, the build stage installs {binary['out']}, "
             f"the prebuilt stage copies to {prebuilt_out}")
    if not packages:
        fail(f"{path}: no apt-get install in the runtime stage")
    print(json.dumps({"build_copies": build_copies, "cargo": cargo, "binary": binary,
                      "runtime_packages": packages, "healthcheck": healthcheck}))


def service(compose, name):
    try:
        return compose["services"][name]
    except KeyError:
        fail(f"compose file has no service {name}")


def environment(svc):
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    # ${VAR:-default} becomes its default: the check runs with what a plain `up` would use.
    return {k: re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


def cmd_compose_authd_env(compose_path, secrets_dir):
    """authd's environment in the compose file, KEY=VALUE per line, secrets in secrets_dir."""
    compose = load_all(compose_path)[0]
    for key, value in sorted(environment(service(compose, "authd")).items()):
        if not key.startswith("AUTHD_"):
            fail(f"{compose_path}: authd variable {key} is not AUTHD_*")
        print(f"{key}={value.replace('/run/secrets/', secrets_dir.rstrip('/') + '/')}")


def cmd_compose_postgrest(compose_path, authd_json):
    """PostgREST's PGRST_* settings match what `authd postgrest config --json` printed."""
    compose = load_all(compose_path)[0]
    env = environment(service(compose, "postgrest"))
    wanted = json.loads(Path(authd_json).read_text(encoding="utf-8"))
    for setting in ("db-anon-role", "db-pre-request", "db-pre-config", "jwt-aud", "jwt-role-claim-key"):
        variable = "PGRST_" + setting.upper().replace("-", "_")
        if env.get(variable) != wanted[setting]:
            fail(f"{compose_path}: {variable} is {env.get(variable)!r}; authd says {setting} = {wanted[setting]!r}")
        print(f"postgrest {variable} = {wanted[setting]} (as authd says)")
    if "PGRST_JWT_SECRET" in env:
        fail(f"{compose_path}: PGRST_JWT_SECRET is set; the keys come from auth.postgrest_config()")


def by_kind(docs, kind):
    found = [doc for doc in docs if doc.get("kind") == kind]
    if len(found) != 1:
        fail(f"expected one {kind}, found {len(found)}")
    return found[0]


def cmd_k8s(directory, toml_out):
    """Cross-checks of the manifests; writes the ConfigMap's authd.toml to toml_out."""
    base = Path(directory)
    kustomization = load_all(base / "kustomization.yaml")[0]
    docs = []
    for resource in kustomization["resources"]:
        if not (base / resource).is_file():
            fail(f"kustomization.yaml lists {resource}, which does not exist")
        docs += load_all(base / resource)
    listed = {base / r for r in kustomization["resources"]}
    for path in sorted(base.glob("*.yaml")):
        if path.name != "kustomization.yaml" and path not in listed:
            fail(f"{path} is not listed in kustomization.yaml")
    config_map = by_kind(docs, "ConfigMap")
    deployment = by_kind(docs, "Deployment")
    service_doc = by_kind(docs, "Service")
    pdb = by_kind(docs, "PodDisruptionBudget")
    Path(toml_out).write_text(config_map["data"]["authd.toml"], encoding="utf-8")

    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    for name, selector in (("Deployment", deployment["spec"]["selector"]["matchLabels"]),
                           ("Service", service_doc["spec"]["selector"]),
                           ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"])):
        if any(labels.get(k) != v for k, v in selector.items()):
            fail(f"the {name} selector {selector} does not match the pod labels {labels}")
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    if volumes[mounts["/etc/authd"]].get("configMap", {}).get("name") != config_map["metadata"]["name"]:
        fail("/etc/authd is not the ConfigMap")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    if env.get("AUTHD_CONFIG") != "/etc/authd/authd.toml":
        fail("AUTHD_CONFIG must name the mounted /etc/authd/authd.toml")
    for path in re.findall(r'^\s*[a-z_]+_file = "([^"]+)"', config_map["data"]["authd.toml"], re.M):
        mount = mounts.get(str(Path(path).parent))
        if mount is None or "secret" not in volumes[mount]:
            fail(f"the ConfigMap reads {path}, which is not in a mounted Secret")
    security = container["securityContext"]
    if not (security.get("readOnlyRootFilesystem") and security.get("allowPrivilegeEscalation") is False
            and security.get("capabilities", {}).get("drop") == ["ALL"]
            and pod["spec"]["securityContext"].get("runAsNonRoot")):
        fail("the container must be non-root, read-only, without privilege escalation or capabilities")
    annotations = pod["metadata"].get("annotations", {})
    if str(annotations.get("prometheus.io/port")) != str(ports.get("metrics")):
        fail("prometheus.io/port does not name the container's metrics port")
    listen = re.search(r'listen = "[^"]*:(\d+)"', config_map["data"]["authd.toml"])
    if not listen or int(listen.group(1)) != ports["metrics"]:
        fail("[metrics] listen in the ConfigMap does not use the metrics port")
    port = re.search(r"^port = (\d+)", config_map["data"]["authd.toml"], re.M)
    if not port or int(port.group(1)) != ports["http"]:
        fail("server.port in the ConfigMap differs from the container's http port")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if container[probe]["httpGet"]["port"] not in ("http", ports["http"]):
            fail(f"{probe} does not probe the http port")
    print("Kubernetes manifests agree: selectors, ports, probes, config and secret mounts")


def cmd_secret_files(toml_path, prefix):
    """The files the configuration names under prefix (the _file keys), one per line."""
    for name in re.findall(r'^\s*[a-z_]+_file = "' + re.escape(prefix) + r'/([^"]+)"',
                           Path(toml_path).read_text(encoding="utf-8"), re.M):
        print(name)


COMMANDS = {
    "yaml": lambda args: cmd_yaml(args),
    "dockerfile": lambda args: cmd_dockerfile(*args),
    "compose-authd-env": lambda args: cmd_compose_authd_env(*args),
    "compose-postgrest": lambda args: cmd_compose_postgrest(*args),
    "k8s": lambda args: cmd_k8s(*args),
    "secret-files": lambda args: cmd_secret_files(*args),
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: checks.py {'|'.join(COMMANDS)} ARGS…")
    COMMANDS[sys.argv[1]](sys.argv[2:])
