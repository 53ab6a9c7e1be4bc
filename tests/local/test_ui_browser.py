"""`pjob ui` end to end in headless chromium (selenium): the runs list, a
running job's progress bar and busy workers, a failed mini-batch's
traceback and replay command, a log file opened from the log tree.
Screenshots of the progress bar and the traceback are decoded and checked
pixel by pixel. Skips (one line) where chromium or chromedriver is missing."""

import os
import shutil
import struct
import subprocess
import sys
import zlib

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "chromium and chromedriver not installed (apt-get install chromium chromium-driver)", allow_module_level=True
    )
webdriver = pytest.importorskip("selenium.webdriver")

from pjobrun import gated_job, run_pjob  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

GREEN, PINK = (46, 125, 50), (253, 232, 232)  # app.css: .progress .done, pre.traceback


def _job(folder, name, bad=None):
    return gated_job(folder, name, bad=bad, error_threshold=0)


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels) of an 8-bit RGB/RGBA PNG, as Chrome writes them."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
        elif kind == b"IDAT":
            idat += body
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, pixels, i = bytearray(stride), [], 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [tuple(line[x : x + 3]) for x in range(0, stride, bpp)]
        prev = line
    return width, height, pixels


def _share(png: bytes, color) -> float:
    _, _, pixels = decode_png(png)
    return sum(1 for p in pixels if all(abs(p[k] - color[k]) <= 8 for k in range(3))) / len(pixels)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _start_ui(runs):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pjob.cli", "ui", "--runs-dir", str(runs), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # the server prints its URL once it listens
    assert line.startswith("pjob ui: http://127.0.0.1:"), line + proc.stderr.read()
    return proc, line.split()[2]


def test_job_page_in_headless_chromium(tmp_path, browser):
    runs, gates = tmp_path / "runs", tmp_path / "gates"
    gates.mkdir()
    env = {"PJOB_TEST_GATES": str(gates)}
    for i in range(4):  # the failed run passes every gate
        (gates / f"d{i}.txt").touch()
    broken = run_pjob("run", _job(tmp_path / "b", "broken", bad=2), "--runs-dir", runs, env=env)
    assert broken.returncode == 1, broken.stderr
    for i in range(1, 4):  # the running one: mini-batch 0 done, the rest wait
        (gates / f"d{i}.txt").unlink()
    running = subprocess.Popen(
        [sys.executable, "-m", "pjob.cli", "run", str(_job(tmp_path / "g", "gated")), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, **env),
    )
    ui, url = _start_ui(runs)
    try:
        # the page redraws when the run changes: a found element may be replaced under us
        wait = WebDriverWait(browser, 60, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
        browser.get(url + "#run=gated")
        wait.until(lambda d: "1/4 mini-batches" in d.find_element(By.CSS_SELECTOR, ".counts").text)
        # a line per worker, one at least busy (a worker may hold several queued mini-batches, the other none)
        wait.until(
            lambda d: (
                len(lines := [li.text for li in d.find_elements(By.CSS_SELECTOR, "ul.workers li")]) == 2
                and any(": mini-batch" in t and " for " in t for t in lines)
            )
        )
        assert wait.until(lambda d: d.find_element(By.ID, "run-state").text) == "Running"
        wait.until(
            lambda d: (
                {e.text for e in d.find_elements(By.CSS_SELECTOR, "#run-list li")} >= {"Running gated", "Failed broken"}
            )
        )
        assert wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".node[data-step=score]").text).startswith("score")
        shot = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".progress").screenshot_as_png)
        assert 0.15 < _share(shot, GREEN) < 0.35  # 1 of 4 done, drawn
        browser.save_screenshot(str(tmp_path / "running.png"))

        browser.get(url + "#run=broken")
        wait.until(lambda d: "ValueError: cannot score d2.txt" in d.find_element(By.CSS_SELECTOR, "pre.traceback").text)
        failure = browser.find_element(By.CSS_SELECTOR, ".failure[data-index='2']")
        assert "Traceback (most recent call last)" in failure.text
        assert f"pjob replay {runs / 'broken'} --step score --mini-batch 2" in failure.text
        assert _share(failure.find_element(By.CSS_SELECTOR, "pre.traceback").screenshot_as_png, PINK) > 0.5
        browser.save_screenshot(str(tmp_path / "failed.png"))

        browser.find_element(By.XPATH, "//summary[starts-with(., 'log tree')]").click()
        browser.find_element(By.XPATH, "//ul[@class='files']/li[.='job_result.txt']").click()
        wait.until(lambda d: "Failed: parallel step 'score'" in d.find_element(By.ID, "viewer-text").text)
    finally:
        for i in range(4):
            (gates / f"d{i}.txt").touch()
        running.communicate(timeout=120)
        ui.terminate()
        ui.communicate(timeout=30)
    assert running.returncode == 0
