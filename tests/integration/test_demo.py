"""The README's first command, run as written (with a time limit): vigied on
the embedded broker fed by vigie-gen shows events, final windows and hourly
values, and stops cleanly."""
import os
import re
import socket
import subprocess

from conftest import ROOT


def test_demo_runs_and_stops_cleanly(build_dir, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, VIGIE_BUILD_DIR=build_dir, VIGIE_DEMO_SECONDS="14",
               VIGIE_DEMO_PORT=str(port), VIGIE_DEMO_DIR=str(tmp_path / "demo"))
    r = subprocess.run(["bash", os.path.join(ROOT, "tools", "demo.sh")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout
    assert "vigied is consuming from the embedded broker at 127.0.0.1:" in out
    events = [int(m) for m in re.findall(r"events +(\d+)", out)]
    assert events and events[-1] > 10000 and events == sorted(events)
    assert re.search(r"windows final +[1-9]", out)
    assert "latest final hour" in out
    assert "vigied stopped cleanly (last epoch committed)." in out
