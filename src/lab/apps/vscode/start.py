"""Reprise lab, VS Code: start code-server in the project image, behind the lab's token.

The job's command is `python3 /opt/reprise-vscode/start.py`. It reads, as JupyterLab's start.py:

  REPRISE_LAB_PORT        the port to listen on (all interfaces)
  REPRISE_LAB_TOKEN_FILE  a read-only file holding the lab's token, which becomes code-server's
                          password (in its private config file: never in argv or the environment)

and execs code-server (Node and code-server live under /opt/reprise-vscode) on /project.
Files are recorded by the lab's checkpoints like any other edit; commands typed in code-server's
terminal are not captured.

The image's filesystem may be read-only and the process may run as a uid with no passwd entry,
so code-server's state (config, user data, extensions, caches) goes to a fresh private directory
under the temp dir. Nothing here reaches the internet: telemetry and update checks are off.
"""

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("REPRISE_LAB_ROOT", "/project")
NODE = os.path.join(HERE, "bin", "node")
ENTRY = os.path.join(HERE, "code-server", "lib", "node_modules", "code-server", "out", "node", "entry.js")


def fail(message):
    sys.stderr.write("reprise lab: %s\n" % message)
    sys.exit(2)


def main():
    try:
        port = int(os.environ["REPRISE_LAB_PORT"])
    except (KeyError, ValueError):
        fail("REPRISE_LAB_PORT must be set to a port number")
    token = ""
    try:
        with open(os.environ["REPRISE_LAB_TOKEN_FILE"]) as f:
            token = f.read().strip()
    except (KeyError, OSError) as e:
        fail("REPRISE_LAB_TOKEN_FILE must name a readable file holding the token (%s)" % e)
    if not token:
        fail("the lab's token file %s is empty" % os.environ["REPRISE_LAB_TOKEN_FILE"])

    uid = os.getuid()
    state = tempfile.mkdtemp(prefix="reprise-vscode-%d-" % uid)
    dirs = {name: os.path.join(state, name) for name in ("home", "config", "data", "extensions", "cache")}
    for path in dirs.values():
        os.makedirs(path, mode=0o700, exist_ok=True)

    env = os.environ
    home = env.get("HOME")
    if not home or not os.path.isdir(home) or not os.access(home, os.W_OK):
        env["HOME"] = dirs["home"]
    env.setdefault("USER", "uid%d" % uid)
    env.setdefault("LOGNAME", env["USER"])
    env["XDG_CONFIG_HOME"] = dirs["config"]
    env["XDG_DATA_HOME"] = dirs["data"]
    env["XDG_CACHE_HOME"] = dirs["cache"]

    config = os.path.join(dirs["config"], "code-server.yaml")
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        # JSON strings are YAML strings.
        f.write("bind-addr: %s\nauth: password\npassword: %s\ncert: false\n" % (json.dumps("0.0.0.0:%d" % port), json.dumps(token)))

    argv = [
        NODE,
        ENTRY,
        "--config", config,
        "--user-data-dir", dirs["data"],
        "--extensions-dir", dirs["extensions"],
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--ignore-last-opened",
        ROOT,
    ]
    os.chdir(ROOT)
    os.execve(NODE, argv, env)


if __name__ == "__main__":
    main()
