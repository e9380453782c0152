"""Reprise lab: record every executed cell of this IPython kernel.

Loaded in every kernel of `reprise lab` (start.py configures
c.InteractiveShellApp.extensions). For each cell run by the user it appends ONE JSON
line to /project/.reprise-lab/executions.jsonl:

  {"kernel", "n", "code", "status": "ok"|"error", "error" (on error), "started",
   "duration", "stdout", "stderr", "result" (if any), "images": [...]}

Images published by display() (matplotlib inline figures included: they are flushed on
post_execute, before post_run_cell) are written under /project/.reprise-lab/images/ and
listed relative to /project/.reprise-lab/. The line is written with a single write() on an
O_APPEND descriptor, so several kernels can share the file.

Capturing must never break the user's cell: every failure is swallowed and reported once
on the kernel's stderr.
"""

import base64
import datetime
import json
import os
import re
import sys
import time
import uuid

RECORD_DIR = os.environ.get("REPRISE_LAB_RECORD_DIR", "/project/.reprise-lab")
EXECUTIONS = "executions.jsonl"
IMAGES = "images"
CAP = 64 * 1024  # bytes of stdout, stderr and result text kept per cell

_IMAGE_TYPES = (("image/png", "png"), ("image/svg+xml", "svg"))


def _cap(text):
    data = text.encode("utf-8", "replace")
    if len(data) <= CAP:
        return text
    return data[:CAP].decode("utf-8", "ignore")


def _kernel_id():
    """The Jupyter kernel id (from the connection file kernel-<id>.json), else a uuid."""
    try:
        from ipykernel.kernelapp import IPKernelApp

        if IPKernelApp.initialized():
            name = os.path.basename(IPKernelApp.instance().connection_file or "")
            match = re.fullmatch(r"kernel-(.+)\.json", name)
            if match:
                return match.group(1)
    except Exception:
        pass
    return str(uuid.uuid4())


class _Buffer:
    """Text written to one stream during a cell, kept up to CAP bytes."""

    def __init__(self):
        self.parts = []
        self.size = 0

    def add(self, text):
        if self.size > CAP or not isinstance(text, str):
            return
        self.parts.append(text)
        self.size += len(text.encode("utf-8", "replace"))

    def text(self):
        return _cap("".join(self.parts))


class Capture:
    def __init__(self, shell):
        self.shell = shell
        self.kernel = _kernel_id()
        self.cell = None
        self.warned = False
        self.restore = []

    # -- failures ---------------------------------------------------------------------------
    def _failed(self, what):
        if self.warned:
            return
        self.warned = True
        try:
            exc = sys.exc_info()[1]
            sys.__stderr__.write(
                "reprise lab: capturing executed cells failed (%s: %s: %s); "
                "cells still run but may not be recorded\n" % (what, type(exc).__name__, exc)
            )
            sys.__stderr__.flush()
        except Exception:
            pass

    # -- hooks -------------------------------------------------------------------------------
    def install(self):
        shell = self.shell
        self._wrap(shell.display_pub, "publish", self._on_publish)
        self._wrap(shell.displayhook, "write_format_data", self._on_result)
        shell.events.register("pre_run_cell", self.pre_run_cell)
        shell.events.register("post_run_cell", self.post_run_cell)

    def uninstall(self):
        shell = self.shell
        for unregister in (
            lambda: shell.events.unregister("pre_run_cell", self.pre_run_cell),
            lambda: shell.events.unregister("post_run_cell", self.post_run_cell),
        ):
            try:
                unregister()
            except Exception:
                pass
        self._end_tee()
        for obj, name, original in reversed(self.restore):
            try:
                if original is None:
                    delattr(obj, name)
                else:
                    setattr(obj, name, original)
            except Exception:
                pass
        self.restore = []

    def _wrap(self, obj, name, observer):
        """Replace obj.name by a call that shows its arguments to observer, then calls through."""
        original = getattr(obj, name)

        def wrapper(*args, **kwargs):
            try:
                observer(*args, **kwargs)
            except Exception:
                self._failed(name)
            return original(*args, **kwargs)

        self.restore.append((obj, name, obj.__dict__.get(name) if hasattr(obj, "__dict__") else original))
        setattr(obj, name, wrapper)

    # -- streams -----------------------------------------------------------------------------
    def _tee(self, stream, buffer):
        """Record what is written to stream (the kernel's OutStream) while passing it on."""
        original = stream.write
        own = "write" in getattr(stream, "__dict__", {})

        def write(text, *args, **kwargs):
            try:
                buffer.add(text)
            except Exception:
                self._failed("write")
            return original(text, *args, **kwargs)

        stream.write = write
        return lambda: (setattr(stream, "write", original) if own else delattr(stream, "write"))

    def _end_tee(self):
        cell = self.cell
        if not cell:
            return
        for undo in cell.pop("untee", []):
            try:
                undo()
            except Exception:
                self._failed("restore stream")

    # -- events ------------------------------------------------------------------------------
    def pre_run_cell(self, info=None):
        try:
            self._end_tee()
            self.cell = {
                "code": getattr(info, "raw_cell", None) or "",
                "started": datetime.datetime.now(datetime.timezone.utc),
                "t0": time.perf_counter(),
                "stdout": _Buffer(),
                "stderr": _Buffer(),
                "result": None,
                "images": [],
                "untee": [],
            }
            for name in ("stdout", "stderr"):
                try:
                    self.cell["untee"].append(self._tee(getattr(sys, name), self.cell[name]))
                except Exception:
                    self._failed("tee " + name)
        except Exception:
            self.cell = None
            self._failed("pre_run_cell")

    def _on_publish(self, data=None, *args, **kwargs):
        cell = self.cell
        if cell is None or not isinstance(data, dict):
            return
        for mime, ext in _IMAGE_TYPES:
            if mime in data:
                cell["images"].append((ext, mime, data[mime]))

    def _on_result(self, format_dict=None, *args, **kwargs):
        cell = self.cell
        if cell is not None and isinstance(format_dict, dict) and "text/plain" in format_dict:
            cell["result"] = str(format_dict["text/plain"])

    def post_run_cell(self, result=None):
        cell = self.cell
        if cell is None:
            return
        try:
            self._end_tee()
            self.cell = None
            self._record(cell, result)
        except Exception:
            self._failed("post_run_cell")

    # -- the record --------------------------------------------------------------------------
    def _record(self, cell, result):
        duration = time.perf_counter() - cell["t0"]
        n = getattr(result, "execution_count", None)
        error = None
        if result is not None:
            error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        os.makedirs(os.path.join(RECORD_DIR, IMAGES), exist_ok=True)
        record = {
            "kernel": self.kernel,
            "n": n,
            "code": cell["code"],
            "status": "error" if error is not None else "ok",
        }
        if error is not None:
            record["error"] = "%s: %s" % (type(error).__name__, error)
        record["started"] = cell["started"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record["duration"] = round(duration, 6)
        record["stdout"] = cell["stdout"].text()
        record["stderr"] = cell["stderr"].text()
        if cell["result"] is not None:
            record["result"] = _cap(cell["result"])
        record["images"] = self._save_images(cell["images"], n)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        fd = os.open(os.path.join(RECORD_DIR, EXECUTIONS), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def _save_images(self, images, n):
        saved = []
        for k, (ext, mime, payload) in enumerate(images):
            try:
                if mime == "image/png":
                    content = base64.b64decode(payload) if isinstance(payload, str) else bytes(payload)
                else:
                    content = (payload if isinstance(payload, str) else payload.decode("utf-8")).encode("utf-8")
                rel = "%s/%s-%s-%d.%s" % (IMAGES, self.kernel[:8], "x" if n is None else n, k, ext)
                with open(os.path.join(RECORD_DIR, rel), "wb") as f:
                    f.write(content)
                saved.append(rel)
            except Exception:
                self._failed("save image")
        return saved


_capture = None


def load_ipython_extension(ipython):
    global _capture
    if _capture is not None:
        return
    try:
        capture = Capture(ipython)
        capture.install()
        _capture = capture
    except Exception:
        try:
            sys.__stderr__.write("reprise lab: cells of this kernel are not recorded (%s)\n" % (sys.exc_info()[1],))
        except Exception:
            pass


def unload_ipython_extension(ipython):
    global _capture
    if _capture is not None:
        _capture.uninstall()
        _capture = None
