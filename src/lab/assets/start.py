"""Reprise lab: start JupyterLab in the project image, recording every executed cell.

The job's command is `python3 /opt/reprise-lab/start.py`. It reads

  REPRISE_LAB_PORT   the port to listen on (all interfaces)
  REPRISE_LAB_TOKEN_FILE  a read-only file holding the token a client must present
                          (/run/secrets/reprise-lab-token: never in the environment,
                          a batch script or a pod spec)

and execs `jupyter lab` rooted at /project (opening in /project/code). Every IPython kernel
loads the reprise_capture extension (next to this file), which appends one JSON line per
executed cell to /project/.reprise-lab/executions.jsonl; the cells of other kernels (R's
IRkernel) are recorded the same way by the server extension reprise_kernel_capture, from
their IOPub messages.

The image's filesystem may be read-only (Charliecloud) and the process may run as a uid
with no passwd entry and HOME=/tmp, so all of Jupyter's state (config, data, runtime,
IPython profile, matplotlib cache) goes to a fresh private directory under the temp dir.
Nothing here reaches the internet: news, update checks and the PyPI extension manager are
turned off.
"""

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("REPRISE_LAB_ROOT", "/project")


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
    state = tempfile.mkdtemp(prefix="reprise-lab-%d-" % uid)
    dirs = {name: os.path.join(state, name) for name in ("home", "config", "data", "runtime", "ipython", "matplotlib", "cache")}
    for path in dirs.values():
        os.makedirs(path, mode=0o700, exist_ok=True)

    env = os.environ
    home = env.get("HOME")
    if not home or not os.path.isdir(home) or not os.access(home, os.W_OK):
        env["HOME"] = dirs["home"]
    # A uid without a passwd entry: getpass.getuser() needs one of these.
    env.setdefault("USER", "uid%d" % uid)
    env.setdefault("LOGNAME", env["USER"])
    env["JUPYTER_CONFIG_DIR"] = dirs["config"]
    env["JUPYTER_DATA_DIR"] = dirs["data"]
    env["JUPYTER_RUNTIME_DIR"] = dirs["runtime"]
    env["IPYTHONDIR"] = dirs["ipython"]
    env["MPLCONFIGDIR"] = dirs["matplotlib"]
    env["XDG_CACHE_HOME"] = dirs["cache"]
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # Kernels write their .pyc files nowhere (the image may be read-only).
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")

    # Every IPython kernel loads the capture extension.
    profile = os.path.join(dirs["ipython"], "profile_default")
    os.makedirs(profile, exist_ok=True)
    with open(os.path.join(profile, "ipython_kernel_config.py"), "w") as f:
        f.write("c.InteractiveShellApp.extensions = ['reprise_capture']\n")

    # The server (its config dir is private: it holds the token): nothing fetched from the internet; any Host header (it is reached through a tunnel).
    preferred = "code" if os.path.isdir(os.path.join(ROOT, "code")) else ""
    with open(os.path.join(dirs["config"], "jupyter_server_config.py"), "w") as f:
        f.write(
            "c.LabApp.news_url = None\n"
            "c.LabApp.check_for_updates_class = 'jupyterlab.NeverCheckForUpdate'\n"
            "c.LabApp.extension_manager = 'readonly'\n"
            "c.ServerApp.allow_remote_access = True\n"
            "c.ServerApp.jpserver_extensions.update({'reprise_kernel_capture': True})\n"
            "c.FileContentsManager.preferred_dir = %r\n"
            # Here, not on the command line: other users of a shared node can read argv.
            "c.IdentityProvider.token = %r\n" % (preferred, token)
        )
    labconfig = os.path.join(dirs["config"], "labconfig")
    os.makedirs(labconfig, exist_ok=True)
    with open(os.path.join(labconfig, "page_config.json"), "w") as f:
        json.dump({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}, f)

    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=0.0.0.0",
        "--port=%d" % port,
        "--port-retries=0",
        "--no-browser",
        "--ServerApp.root_dir=%s" % ROOT,
        "--ServerApp.allow_remote_access=True",
    ]
    if uid == 0:
        argv.append("--allow-root")
    os.chdir(ROOT)
    os.execve(sys.executable, argv, env)


if __name__ == "__main__":
    main()
