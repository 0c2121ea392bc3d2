"""``use = egg:Spawning``: PasteDeploy's loadserver (what pserve does) starts the spawning server for the ini."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from spawning.paste_server_runner import command_line

APP = '''
def make_app(global_conf, greeting="?"):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{greeting} from {global_conf.get('who')}".encode()]
    return app
'''

INI = """[DEFAULT]
who = paste

[server:main]
use = egg:Spawning
host = 127.0.0.1
port = 0
num_processes = 1
threadpool_workers = 2
access_log_file = /dev/null

[app:main]
use = call:runnerapp:make_app
greeting = hello
"""


def test_loadserver_runs_spawning_for_the_ini(tmp_path: Path) -> None:
    (tmp_path / "runnerapp.py").write_text(APP)
    ini = tmp_path / "development.ini"
    ini.write_text(INI)
    script = "from paste.deploy import loadapp, loadserver; uri = 'config:' + {0!r}; loadserver(uri)(loadapp(uri))".format(str(ini))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True)
    killer = threading.Timer(30, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("spawning: ready") or line.startswith("spawning: error"):
                break
        text = "".join(lines)
        assert "spawning: ready (1/1 children)" in text, text
        listening = re.search(r"listening on http://127\.0\.0\.1:(\d+) \(pid (\d+), 1 processes × 2 threads, 1 front\)", text)
        assert listening, text
        # The runner replaced the pserve process: same pid.
        assert int(listening.group(2)) == proc.pid
        with urllib.request.urlopen(f"http://127.0.0.1:{listening.group(1)}/", timeout=10) as res:
            assert res.read() == b"hello from paste"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        killer.cancel()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_server_main_keys_become_flags_and_global_conf_passes_through() -> None:
    argv = command_line(
        {"__file__": "/srv/app/development.ini", "here": "/srv/app", "who": "me"},
        {"host": "0.0.0.0", "port": "80", "num_processes": "2", "max_memory": "512M", "reload": "dev"},
    )
    i = argv.index("--factory=spawning.paste_factory.config_factory")
    assert argv[i:] == [
        "--factory=spawning.paste_factory.config_factory",
        f"--python={sys.executable}",
        "--max-memory=512M",
        "--reload=dev",
        "--",
        "/srv/app/development.ini",
        "who=me",
    ]
