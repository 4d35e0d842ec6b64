"""Debian's headless Chromium for Vigie's browser tests (the /dashboard page).

No test functions here: the tests use it through the `chromium` fixture of
conftest.py, which skips them with the reason when the browser is absent
(outside CI; under CI=true it fails them instead, since bootstrap installs
it), or directly:

    import browser
    with browser.serve(tmp_path) as base, browser.chromium() as b:
        b.load(base + "index.html")
        b.screenshot(browser.artefact_path("dashboard/index.png"))
        [cell] = b.read("data#mean")      # cell.text, cell.attrs["value"]
        violations = browser.axe(b.driver)
        assert violations == [], browser.describe(violations)

What it uses, all installed by tools/bootstrap.sh:
- /usr/bin/chromium and /usr/bin/chromedriver, Debian's packages chromium
  and chromium-driver (VIGIE_CHROMIUM and VIGIE_CHROMEDRIVER override them);
- selenium, pinned in tests/requirements.txt;
- axe-core's axe.min.js, from the npm registry into $VIGIE_CACHE/npm at the
  version and integrity that tests/package.json and package-lock.json pin.

The browser reaches no network but loopback: background services, component
updates and proxies are off, and every host but localhost, 127.0.0.1 and
[::1] resolves to nothing (IP literals too), so a page that would fetch from
elsewhere fails at once here instead of waiting on it.
"""
import base64
import collections
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import signal
import tempfile
import threading

import pytest

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # reported by missing(), so that the tests skip
    webdriver = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VIGIE_CHROMEDRIVER", "/usr/bin/chromedriver")
CACHE = os.environ.get("VIGIE_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vigie")
AXE_JS = os.path.join(CACHE, "npm", "node_modules", "axe-core", "axe.min.js")

WIDTH, HEIGHT = 1280, 800    # the viewport, in CSS pixels at scale 1
TIMEOUT = 30                 # seconds for a page load, a script, a wait


def axe_version_pinned():
    with open(os.path.join(ROOT, "tests", "package.json")) as f:
        return json.load(f)["dependencies"]["axe-core"]


def missing():
    """Why the browser tests cannot run on this machine, or None."""
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return (f"{path} is absent (Debian package {pkg}): "
                    "run tools/bootstrap.sh")
    if webdriver is None:
        return "selenium is not installed in this Python: run tools/bootstrap.sh"
    if not os.path.exists(AXE_JS):
        return f"axe-core is absent ({AXE_JS}): run tools/bootstrap.sh"
    return None


def require():
    """Skip the calling test when the browser is absent, with the reason;
    fail it instead under CI, whose bootstrap must have installed it."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


def flags(width, height, profile, lang):
    """Chromium's command line. Each flag is needed here, not decoration."""
    return [
        # the new headless mode (the real browser, not the old shell)
        "--headless=new",
        # as root (sessions and CI are) Chromium refuses to start with its
        # sandbox, and containers often lack the user namespaces it needs
        "--no-sandbox",
        # a container's /dev/shm may be small: Chromium then crashes on
        # shared memory; this puts it under /tmp
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--mute-audio",
        f"--lang={lang}",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        # no traffic of its own: without these Chromium tries Google's hosts
        # at every start, and this machine's closed network refuses them
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-quic",
        "--no-pings",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
        "EXCLUDE 127.0.0.1, EXCLUDE [::1]",
    ]


Element = collections.namedtuple("Element", "tag text attrs")

_READ_JS = """
return Array.from(document.querySelectorAll(arguments[0]), e => [
  e.localName,
  (e.innerText === undefined ? e.textContent : e.innerText).trim(),
  Object.fromEntries(Array.from(e.attributes, a => [a.name, a.value]))]);
"""


class Browser:
    """One headless Chromium tab; `driver` is selenium's WebDriver."""

    def __init__(self, driver, timeout):
        self.driver = driver
        self.timeout = timeout

    def load(self, url, until=None):
        """Open url and wait for document.readyState 'complete' and for its
        fonts; with until (a CSS selector), also for such an element."""
        self.driver.get(url)
        self.wait(lambda d: d.execute_script(
            "return document.readyState") == "complete", f"{url} to load")
        self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "document.fonts.ready.then(() => done(true));")
        if until is not None:
            self.wait_for(until)

    def wait(self, condition, what="the condition", timeout=None):
        """condition(driver) until truthy (returned), or fail naming what."""
        try:
            return WebDriverWait(self.driver, timeout or self.timeout,
                                 poll_frequency=0.05).until(condition)
        except TimeoutException:
            pass
        pytest.fail(f"browser: timed out waiting for {what} "
                    f"(page {self.driver.current_url})")

    def wait_for(self, css, text=None, timeout=None):
        """The first element matching css (whose visible text contains text,
        if given), once there is one: for pages that render after load."""
        def found(_):
            for e in self.read(css):
                if text is None or text in e.text:
                    return e
            return None
        what = f"{css!r}" + ("" if text is None else f" with text {text!r}")
        return self.wait(found, what, timeout)

    def read(self, css):
        """Every element matching css, as Element(tag, text, attrs): text is
        what a reader sees (innerText, trimmed; textContent for SVG), attrs
        every attribute as written, e.g. for <data value="12.5">12,5</data>
        Element('data', '12,5', {'value': '12.5'})."""
        return [Element(*e) for e in self.driver.execute_script(_READ_JS, css)]

    def screenshot(self, path):
        """Save the whole page (beyond the viewport too) as a PNG at scale 1:
        as wide as the viewport (wider if the page overflows), as high as the
        page. Returns path."""
        m = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        view, content = m["cssLayoutViewport"], m["cssContentSize"]
        width = max(view["clientWidth"], int(content["width"] + 0.999))
        height = max(view["clientHeight"], int(content["height"] + 0.999))
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path

    def console(self):
        """The page's console messages since the last call, as dicts with
        level ('SEVERE' for errors and uncaught exceptions) and message."""
        return self.driver.get_log("browser")

    def axe(self, options=None):
        return axe(self.driver, options)


@contextlib.contextmanager
def chromium(width=WIDTH, height=HEIGHT, lang="en-US", timezone="UTC",
             timeout=TIMEOUT):
    """A headless Chromium with a width x height viewport, a new empty
    profile, the given language and time zone (None: the machine's), as a
    Browser. On exit the browser, chromedriver and anything they left
    running are ended and the profile removed, whatever happened."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    tmp = tempfile.mkdtemp(prefix="vigie-chromium-")
    profile = os.path.join(tmp, "profile")
    log = os.path.join(tmp, "chromedriver.log")
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in flags(width, height, profile, lang):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
    # chromedriver leads a process group of its own, which Chromium's
    # processes join (not its crash handlers, which leave by themselves once
    # it has gone): a teardown ends them all and nothing else
    service = Service(executable_path=CHROMEDRIVER, log_output=log,
                      popen_kw={"start_new_session": True})
    driver = None
    try:
        try:
            driver = webdriver.Chrome(service=service, options=opts)
        except Exception as e:
            raise RuntimeError(f"browser: chromium did not start: {e}\n"
                               f"chromedriver's log:\n{_tail(log)}") from e
        driver.set_page_load_timeout(timeout)
        driver.set_script_timeout(timeout)
        # the viewport exactly width x height at scale 1, whatever the
        # window around it
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": False})
        if timezone:
            driver.execute_cdp_cmd("Emulation.setTimezoneOverride",
                                   {"timezoneId": timezone})
        yield Browser(driver, timeout)
    finally:
        pid = service.process.pid if getattr(service, "process", None) else None
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        else:
            with contextlib.suppress(Exception):
                service.stop()
        if pid is not None:
            _end_group(pid)
        shutil.rmtree(tmp, ignore_errors=True)


def _end_group(pgid):
    """SIGKILL whatever remains of the process group pgid: ours, the one
    chromedriver leads. What it kills is dead at once; init reaps it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(none)"


@functools.lru_cache(maxsize=None)
def _axe_source():
    with open(AXE_JS) as f:
        src = f.read()
    m = re.match(r"/\*! axe v(\S+)", src)
    want = axe_version_pinned()
    if not m or m.group(1) != want:
        raise RuntimeError(f"{AXE_JS} is axe {m.group(1) if m else '?'}, "
                           f"tests/package.json pins {want}: run tools/bootstrap.sh")
    return src


def axe_results(driver, options=None):
    """axe-core's whole result for the page in driver (violations, passes,
    incomplete, inapplicable), injecting axe.min.js first if needed.
    options: axe.run's, e.g. {"runOnly": ["wcag2a", "wcag2aa"]}; by default
    every rule, best practices (landmarks, heading order) included."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(_axe_source())
    r = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, arguments[0]).then(
            r => done({ok: r}), e => done({error: String(e && e.stack || e)}));
        """, options or {})
    if "error" in r:
        raise RuntimeError(f"axe.run failed: {r['error']}")
    return r["ok"]


def axe(driver, options=None):
    """The accessibility violations axe-core finds in the page: a list of
    {id, impact, description, help, helpUrl, tags, nodes: [{target, html,
    failureSummary}]}; [] for a page without any. Rule ids include
    color-contrast, svg-img-alt, role-img-alt, image-alt, label,
    html-has-lang, landmark-one-main, region, heading-order."""
    opts = {"resultTypes": ["violations"]}
    opts.update(options or {})
    return axe_results(driver, opts)["violations"]


def describe(violations):
    """A readable account of axe's violations, for assertion messages."""
    out = []
    for v in violations:
        out.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for n in v["nodes"]:
            summary = (n.get("failureSummary") or "").replace("\n", " ")
            out.append(f"  {' '.join(map(str, n['target']))}: {summary}")
    return "\n".join(out)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Serve directory over HTTP on a free loopback port (the kernel picks
    it) for the duration; yields its base URL, 'http://127.0.0.1:PORT/'."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    # a short poll, so that leaving takes 50 ms rather than half a second
    t = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join()


def artefact_dir():
    """Where tests keep what a person may want to look at after the run
    (screenshots first of all). Nothing removes it: a run adds or replaces
    files. $VIGIE_ARTEFACTS if set, else test-artefacts/ in the build
    directory the tests run against ($VIGIE_BUILD_DIR, default ./build;
    tools/test.sh and so CI: build-test/gcc/test-artefacts), outside git
    like every build tree."""
    d = os.environ.get("VIGIE_ARTEFACTS") or os.path.join(
        os.environ.get("VIGIE_BUILD_DIR") or os.path.join(ROOT, "build"),
        "test-artefacts")
    os.makedirs(d, exist_ok=True)
    return d


def artefact_path(name):
    """A path for the artefact name (relative, may hold subfolders such as
    'dashboard/overview.png') in artefact_dir(), its folder created."""
    if os.path.isabs(name) or ".." in name.split("/"):
        raise ValueError(f"artefact name {name!r} must be relative, without '..'")
    p = os.path.join(artefact_dir(), name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p
