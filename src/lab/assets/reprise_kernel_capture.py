"""Reprise lab: record the executed cells of kernels other than IPython (R's IRkernel, ...).

A Jupyter server extension (start.py enables it). IPython kernels record their own cells
from inside (reprise_capture); any other kernel cannot load that extension, so the server
listens to its IOPub channel, which the Jupyter protocol makes the same for every kernel:

  execute_input          the cell's code and execution count (silent requests send none)
  stream                 stdout / stderr text
  display_data,
  execute_result         images (image/png, image/svg+xml) and the result's text/plain
  error                  the cell failed: "ename: evalue"
  status idle            the cell is over

and appends ONE JSON line per cell to /project/.reprise-lab/executions.jsonl, in the same
format as reprise_capture (the same single O_APPEND write, so both can share the file).

Capturing must never break the server or the user's cell: every failure is swallowed and
reported once in the server's log.
"""

import asyncio
import base64
import datetime
import json
import os
import time

# The record's place and format are the IPython extension's (same folder, on the server's PYTHONPATH).
from reprise_capture import _IMAGE_TYPES, EXECUTIONS, IMAGES, RECORD_DIR, _cap


def _iso(t):
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _records_itself(spec):
    """IPython kernels record their own cells (reprise_capture); recording them here too would double them."""
    if spec is None:
        return False
    argv = " ".join(getattr(spec, "argv", None) or [])
    return (getattr(spec, "language", "") or "").lower() == "python" and "ipykernel" in argv


class KernelCapture:
    """The cells of one kernel, assembled from its IOPub messages."""

    def __init__(self, kernel_id, kernel, log):
        self.kernel_id = kernel_id
        self.kernel = kernel
        self.log = log
        self.cells = {}  # parent msg_id -> cell
        self.warned = False
        self.heard = asyncio.Event()
        self.stream = kernel.connect_iopub()
        self.stream.on_recv(self.on_recv)

    async def subscribed(self, timeout=60.0):
        """Returns once this IOPub subscription has heard the kernel.

        ZeroMQ gives a subscriber nothing published before it joined, so a cell run right after
        the kernel starts (or restarts) could go unrecorded. Jupyter's websocket nudges with
        kernel_info requests until its own IOPub hears something; this does the same for ours,
        and the server answers the kernel's start only then.
        """
        shell = self.kernel.connect_shell()
        shell.on_recv(lambda _parts: None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while not self.heard.is_set():
                if loop.time() > deadline:
                    self.log.warning("reprise lab: the recorder of kernel %s heard nothing in %d s; its first cells may not be recorded", self.kernel_id, timeout)
                    return
                self.kernel.session.send(shell, "kernel_info_request")
                try:
                    await asyncio.wait_for(self.heard.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
        finally:
            shell.close()

    def close(self):
        try:
            self.stream.close()
        except Exception:
            pass

    def _failed(self, what, exc):
        if self.warned:
            return
        self.warned = True
        self.log.warning("reprise lab: recording the cells of kernel %s failed (%s: %s: %s); cells still run but may not be recorded", self.kernel_id, what, type(exc).__name__, exc)

    def on_recv(self, parts):
        self.heard.set()
        try:
            session = self.kernel.session
            _, parts = session.feed_identities(parts)
            msg = session.deserialize(parts, content=True)
            self.on_message(msg)
        except Exception as exc:
            self._failed("message", exc)

    def on_message(self, msg):
        kind = msg.get("header", {}).get("msg_type")
        parent = (msg.get("parent_header") or {}).get("msg_id")
        content = msg.get("content") or {}
        if not parent:
            return
        if kind == "execute_input":
            self.cells[parent] = {
                "n": content.get("execution_count"),
                "code": content.get("code") or "",
                "started": datetime.datetime.now(datetime.timezone.utc),
                "t0": time.perf_counter(),
                "stdout": [],
                "stderr": [],
                "result": None,
                "error": None,
                "images": [],
            }
            return
        cell = self.cells.get(parent)
        if cell is None:
            return
        if kind == "stream":
            name = content.get("name")
            if name in ("stdout", "stderr") and isinstance(content.get("text"), str):
                cell[name].append(content["text"])
        elif kind in ("display_data", "execute_result"):
            data = content.get("data") or {}
            for mime, ext in _IMAGE_TYPES:
                if mime in data:
                    cell["images"].append((ext, mime, data[mime]))
            if kind == "execute_result" and "text/plain" in data:
                text = data["text/plain"]
                cell["result"] = "".join(text) if isinstance(text, list) else str(text)
        elif kind == "error":
            cell["error"] = ("%s: %s" % (content.get("ename", "Error"), content.get("evalue", ""))).rstrip()
        elif kind == "status" and content.get("execution_state") == "idle":
            del self.cells[parent]
            try:
                self._record(cell)
            except Exception as exc:
                self._failed("record", exc)

    def _record(self, cell):
        os.makedirs(os.path.join(RECORD_DIR, IMAGES), exist_ok=True)
        record = {
            "kernel": self.kernel_id,
            "n": cell["n"],
            "code": cell["code"],
            "status": "error" if cell["error"] is not None else "ok",
        }
        if cell["error"] is not None:
            record["error"] = _cap(cell["error"])
        record["started"] = _iso(cell["started"])
        record["duration"] = round(time.perf_counter() - cell["t0"], 6)
        record["stdout"] = _cap("".join(cell["stdout"]))
        record["stderr"] = _cap("".join(cell["stderr"]))
        if cell["result"] is not None:
            record["result"] = _cap(cell["result"])
        record["images"] = self._save_images(cell["images"], cell["n"])
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
                if isinstance(payload, list):
                    payload = "".join(payload)
                if mime == "image/png":
                    content = base64.b64decode(payload) if isinstance(payload, str) else bytes(payload)
                else:
                    content = (payload if isinstance(payload, str) else payload.decode("utf-8")).encode("utf-8")
                rel = "%s/%s-%s-%d.%s" % (IMAGES, self.kernel_id[:8], "x" if n is None else n, k, ext)
                with open(os.path.join(RECORD_DIR, rel), "wb") as f:
                    f.write(content)
                saved.append(rel)
            except Exception as exc:
                self._failed("save image", exc)
        return saved


def _jupyter_server_extension_points():
    return [{"module": "reprise_kernel_capture"}]


def _load_jupyter_server_extension(serverapp):
    km = serverapp.kernel_manager
    log = serverapp.log
    captures = {}

    def watch(kernel_id):
        try:
            if kernel_id in captures:
                return
            kernel = km.get_kernel(kernel_id)
            spec = None
            try:
                spec = kernel.kernel_spec
            except Exception:
                pass
            if _records_itself(spec):
                return
            captures[kernel_id] = KernelCapture(kernel_id, kernel, log)
        except Exception as exc:
            log.warning("reprise lab: the cells of kernel %s are not recorded (%s: %s)", kernel_id, type(exc).__name__, exc)

    start = km.start_kernel
    restart = km.restart_kernel
    shutdown = km.shutdown_kernel

    async def subscribed(kernel_id):
        capture = captures.get(kernel_id)
        if capture is not None:
            try:
                await capture.subscribed()
            except Exception as exc:
                capture._failed("subscribe", exc)

    # The kernel manager's own methods, wrapped on this instance: every kernel the server starts
    # (REST, sessions, restarts keep the id and the IOPub port) passes through them.
    async def start_kernel(*args, **kwargs):
        kernel_id = await start(*args, **kwargs)
        watch(kernel_id)
        await subscribed(kernel_id)
        return kernel_id

    async def restart_kernel(kernel_id, *args, **kwargs):
        result = await restart(kernel_id, *args, **kwargs)
        capture = captures.get(kernel_id)
        if capture is not None:
            capture.cells.clear()  # cells cut short by the restart never end
            capture.heard.clear()
            await subscribed(kernel_id)
        return result

    async def shutdown_kernel(kernel_id, *args, **kwargs):
        capture = captures.pop(kernel_id, None)
        if capture is not None:
            capture.close()
        return await shutdown(kernel_id, *args, **kwargs)

    km.start_kernel = start_kernel
    km.restart_kernel = restart_kernel
    km.shutdown_kernel = shutdown_kernel
    log.info("reprise lab: recording the cells of non-IPython kernels")
