"""The app in a real browser: Playwright driving Debian's chromium (never `playwright install`).

Screenshots go to test-output/browser/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui import layout

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
OUT = Path(__file__).resolve().parent.parent / "test-output" / "browser"
FASHION = layout.CHECKPOINTS / "fashion-mnist-32"
BUNDLED_THERE = all((layout.CHECKPOINTS / name / "model.safetensors").is_file() for name in layout.BUNDLED)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def open_app(page, url: str, examples_id: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_selector(f"#{examples_id} button")


def pick_example(page, examples_id: str, size: tuple[int, int], index: int = 0) -> str:
    """Click an example; wait until the editor shows its image of `size` and its result is shown (filled
    now, or the stored one); the status text."""
    before = page.evaluate(f"() => {STATUS}")
    page.locator(f"#{examples_id} button").nth(index).click()
    wait_for_editor_image(page, size)
    return wait_for_result(page, before)


def wait_for_editor_image(page, size: tuple[int, int]) -> None:
    """Wait until the editor's events are done and it shows an image of `size`."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => [...document.querySelectorAll('#editor [data-testid=status-tracker]')]"
                           ".every(e => e.classList.contains('hide'))")
    # gradio 6 exposes its editor as window.editor; its canvas takes the image's size once loaded
    page.wait_for_function("([w, h]) => window.editor && window.editor.width === w && window.editor.height === h",
                           arg=list(size))
    page.wait_for_timeout(1000)  # the hole layer is drawn just after the image


def image_box(page, size: tuple[int, int]) -> dict:
    """Where the image is drawn on the editor's canvas (fitted and centred), in the viewport's pixels
    (the editor scrolled into view first: a click on an example can scroll the page)."""
    canvas = page.locator("#editor canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = min(box["width"] / size[0], box["height"] / size[1])
    w, h = size[0] * scale, size[1] * scale
    return {"x": box["x"] + (box["width"] - w) / 2, "y": box["y"] + (box["height"] - h) / 2, "width": w, "height": h}


def paint_stroke(page, size, y=0.85, x0=0.25, x1=0.75) -> None:
    """Drag the mouse across the image at height `y` (fractions of the image)."""
    b = image_box(page, size)
    page.mouse.move(b["x"] + x0 * b["width"], b["y"] + y * b["height"])
    page.mouse.down()
    for t in np.linspace(x0, x1, 12)[1:]:
        page.mouse.move(b["x"] + t * b["width"], b["y"] + y * b["height"], steps=2)
    page.mouse.up()


STATUS = "document.querySelector('#status [data-testid=markdown]')?.innerText || ''"
STATUS_IDLE = "document.querySelector('#status [data-testid=status-tracker]')?.classList.contains('hide')"


def run_and_wait(page, timeout_ms: int = 120_000) -> str:
    """Click "Fill the hole" and wait for the run to end with a new "Done in" status; the status text."""
    before = page.evaluate(f"() => {STATUS}")
    page.click("#run")
    return wait_for_result(page, before, timeout_ms)


def wait_for_result(page, before: str, timeout_ms: int = 120_000) -> str:
    """Wait for a "Done in" status other than `before`, and the result, candidates and G(z) shown; the status."""
    page.wait_for_function(f"(before) => {{ const t = {STATUS}; return {STATUS_IDLE} && t.includes('Done in')"
                           " && t !== before; }", arg=before, timeout=timeout_ms)
    page.wait_for_function(  # and the result, the candidates and G(z) are shown
        "() => ['#result', '#candidates', '#raw'].every(id => { const imgs = document.querySelectorAll(id + ' img');"
        " return imgs.length > 0 && [...imgs].every(i => i.complete && i.naturalWidth > 0); })")
    return page.evaluate(f"() => {STATUS}")


def set_slider(page, elem_id: str, value: int) -> None:
    """Type `value` into a slider's number box and wait until the slider itself took it.

    Filled too early (while its accordion is still mounting, on a busy machine) the box can be
    reset to the default, so a value that did not stick is typed again.
    """
    box, bar = page.locator(f"#{elem_id} input[type=number]"), page.locator(f"#{elem_id} input[type=range]")
    for _ in range(5):
        box.fill(str(value))
        box.press("Enter")
        page.wait_for_timeout(300)
        if box.input_value() == str(value) and bar.input_value() == str(value):
            return
    raise AssertionError(f"#{elem_id} did not take the value {value}: box {box.input_value()}, slider {bar.input_value()}")


def hole_percent(status: str) -> int:
    return int(re.search(r"The hole covered (\d+)%", status).group(1))


def tint(page, box: dict, region) -> float:
    """Mean R - G of what the page shows in `box` (viewport pixels) over `region` = (x0, y0, x1, y1),
    fractions of it."""
    shown = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(float)  # the viewport
    arr = shown[round(box["y"]): round(box["y"] + box["height"]), round(box["x"]): round(box["x"] + box["width"])]
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = region
    part = arr[int(y0 * h): int(y1 * h), int(x0 * w): int(x1 * w)]
    return float((part[..., 0] - part[..., 1]).mean())


def red_tint(page, size, region) -> float:
    """Mean R - G of the editor's canvas over `region`, fractions of the image of `size`."""
    return tint(page, image_box(page, size), region)


def grey_picture(path: Path, size=(96, 96)) -> Path:
    """A grey ramp with no red in it (red on the canvas is the hole)."""
    grey = np.tile(np.linspace(70, 170, size[0], dtype=np.uint8), (size[1], 1))
    Image.fromarray(np.stack([grey] * 3, -1)).save(path)
    return path


def upload_to_editor(page, url: str, path: Path, size: tuple[int, int]) -> None:
    """Open the app and drop the image file at `path` (of `size`) into the editor.

    A file given while the page is still mounting can be lost on a busy machine: it is given again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.editor")
    chooser = page.locator("#editor input[type=file]")
    for _ in range(3):
        chooser.set_input_files([])  # the same file again would not be a change
        chooser.set_input_files(str(path))
        try:
            page.wait_for_function("([w, h]) => window.editor && window.editor.width === w"
                                   " && window.editor.height === h", arg=list(size), timeout=15_000)
            break
        except PlaywrightTimeout:
            continue
    wait_for_editor_image(page, size)


def test_example_stroke_run(page, serve, tiny_checkpoints, tmp_path):
    OUT.mkdir(parents=True, exist_ok=True)
    grey_picture(tmp_path / "example.png")
    examples = [{"model": "tiny-rgb", "image": str(tmp_path / "example.png"), "hole": "center", "caption": "grey"}]
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}, examples).url

    open_app(page, url, "examples-tiny-rgb")
    assert page.get_by_text("Fill a hole with a GAN").is_visible()
    pick_example(page, "examples-tiny-rgb", (96, 96))
    assert red_tint(page, (96, 96), (0.3, 0.3, 0.7, 0.7)) > 40  # the example's hole, in the middle
    assert red_tint(page, (96, 96), (0.0, 0.0, 0.2, 0.2)) < 10
    paint_stroke(page, (96, 96))
    status = run_and_wait(page)
    assert hole_percent(status) > 25  # the centre quarter and the stroke
    assert page.locator("#result img").is_visible()
    page.screenshot(path=str(OUT / "tiny-app.png"), full_page=True)

    # a preset button replaces the hole, and the editor shows it where it is
    page.get_by_role("button", name="Left half").click()
    wait_for_editor_image(page, (96, 96))
    page.screenshot(path=str(OUT / "tiny-app-preset-editor.png"))
    assert red_tint(page, (96, 96), (0.05, 0.1, 0.45, 0.9)) > 40
    assert red_tint(page, (96, 96), (0.55, 0.1, 0.95, 0.9)) < 10
    status = run_and_wait(page)
    assert hole_percent(status) == 50
    page.screenshot(path=str(OUT / "tiny-app-preset.png"), full_page=True)


def counted_searches(monkeypatch) -> list:
    """The caller (session) of each search the served app's service starts, from now on."""
    from inpaint.service import Service

    callers, run = [], Service.run

    def counted(self, *args, **kwargs):
        callers.append(kwargs.get("caller"))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Service, "run", counted)
    return callers


def test_an_examples_result_is_stored_and_shown_again_at_once(page, serve, tiny_checkpoints, tmp_path, monkeypatch):
    """The first pick of an example fills it (a search); a later pick, by anyone, shows the stored result
    without searching again, and the editor shows the example's image and hole."""
    searches = counted_searches(monkeypatch)
    examples = [{"model": "tiny-rgb", "image": str(grey_picture(tmp_path / "square.png")), "hole": "center",
                 "caption": "square"},
                {"model": "tiny-rgb", "image": str(grey_picture(tmp_path / "wide.png", (64, 48))), "hole": "left",
                 "caption": "wide"}]
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}, examples).url
    open_app(page, url, "examples-tiny-rgb")
    first = pick_example(page, "examples-tiny-rgb", (96, 96), 0)
    assert len(searches) == 1 and "stored result" not in first and hole_percent(first) == 25
    pick_example(page, "examples-tiny-rgb", (64, 48), 1)  # another example: searched too
    assert len(searches) == 2

    again = pick_example(page, "examples-tiny-rgb", (96, 96), 0)
    assert len(searches) == 2, "the stored result is shown: no search"
    assert again.startswith(first) and "stored result" in again
    assert red_tint(page, (96, 96), (0.3, 0.3, 0.7, 0.7)) > 40  # the example's hole, in the middle
    assert red_tint(page, (96, 96), (0.0, 0.0, 0.2, 0.2)) < 10
    # another visitor (a session of its own) gets it at once too, with the before/after of it
    other = page.context.new_page()
    open_app(other, url, "examples-tiny-rgb")
    assert "stored result" in pick_example(other, "examples-tiny-rgb", (96, 96), 0) and len(searches) == 2
    other.get_by_role("tab", name="Before / after").click()
    other.locator("#compare img").first.wait_for()
    OUT.mkdir(parents=True, exist_ok=True)
    other.screenshot(path=str(OUT / "stored-example.png"), full_page=True)


def test_stop_takes_a_waiting_request_out_of_the_queue(page, serve, tiny_checkpoints, tmp_path, monkeypatch):
    """One search runs at a time: a second visitor's request waits in the queue, and their Stop takes it out
    (it never runs), while the first visitor's Stop ends the running search with its best fill so far."""
    import dataclasses

    from ui import callbacks

    plain = callbacks.settings
    monkeypatch.setattr(callbacks, "settings",
                        lambda *args, **kwargs: dataclasses.replace(plain(*args, **kwargs), patience=0))
    searches = counted_searches(monkeypatch)  # no early stop (above): a search runs until stopped
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}).url
    running, waiting = page, page.context.new_page()
    for visitor in (running, waiting):
        upload_to_editor(visitor, url, grey_picture(tmp_path / "grey.png"), (96, 96))
        visitor.get_by_role("button", name="Centre").click()
        wait_for_editor_image(visitor, (96, 96))
        visitor.get_by_text("Advanced").click()
        set_slider(visitor, "iterations", 2000)
    idle = waiting.evaluate(f"() => {STATUS}")

    running.click("#run")
    running.wait_for_function(f"() => ({STATUS}).includes('Searching')", timeout=60_000)
    waiting.click("#run")
    tracker = "document.querySelector('#candidates [data-testid=status-tracker]')"
    waiting.wait_for_function(f"() => /queue/i.test({tracker}?.innerText || '')")  # in line behind the search
    assert len(searches) == 1
    waiting.click("#stop")
    waiting.wait_for_function(f"() => {tracker}?.classList.contains('hide')")  # out of the queue
    assert running.evaluate(f"() => ({STATUS}).includes('Searching')"), "the running search goes on"

    running.click("#stop")
    running.wait_for_function(f"() => {STATUS_IDLE} && ({STATUS}).includes('Done in')", timeout=60_000)
    status = running.evaluate(f"() => {STATUS}")
    assert "stopped by you" in status and int(re.search(r"(\d+) iterations", status).group(1)) < 2000
    running.wait_for_timeout(3000)  # time for a request still in the queue to start
    assert len(searches) == 1, "the request taken out of the queue never ran"
    assert waiting.evaluate(f"() => {STATUS}") == idle


def test_nothing_painted_shows_a_plain_error(page, serve, tiny_checkpoints, tmp_path):
    Image.new("RGB", (64, 48), (120, 120, 120)).save(tmp_path / "plain.png")
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}).url
    upload_to_editor(page, url, tmp_path / "plain.png", (64, 48))
    page.click("#run")
    page.get_by_text("the mask is empty").first.wait_for()
    page.wait_for_timeout(500)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "error-nothing-painted.png"))


@pytest.mark.skipif(not (FASHION / "model.safetensors").is_file(), reason="the bundled fashion-mnist-32 is not there")
def test_real_app_screenshot(page, serve):
    """The real app on the bundled checkpoint, a short completion of the first example."""
    from inpaint.complete import WARM

    url = serve(None, None).url  # the bundled models and examples
    open_app(page, url, "examples-fashion-mnist-32")
    # the bundled models ship a warm-start encoder: the search's defaults are the warm start's, for the
    # example's fill and on the sliders
    status = pick_example(page, "examples-fashion-mnist-32", (256, 256))
    assert f"{WARM['restarts']} restarts" in status
    page.get_by_text("Advanced").click()
    shown = {name: page.locator(f"#{name} input[type=number]").input_value()
             for name in ("iterations", "restarts", "warm-start")}
    assert shown == {"iterations": str(WARM["iterations"]), "restarts": str(WARM["restarts"]),
                     "warm-start": f"{WARM['warm_start']:g}"}
    assert page.locator("#warm-start input[type=range]").is_enabled()
    set_slider(page, "iterations", 60)
    set_slider(page, "restarts", 8)
    status = run_and_wait(page, timeout_ms=300_000)
    assert "60 iterations" in status or "stopped early" in status
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "real-app.png"), full_page=True)

    # a long run shows previews while it searches, and Stop ends it with the best so far: on a
    # 64x64 model (the faces model, which a face example picks), whose steps are slow enough that
    # Stop comes before the search would stop early (fashion-mnist-32's converges in about a second)
    assert "Model emoji-faces-64" in pick_example(page, "examples-emoji-faces-64", (256, 256))
    set_slider(page, "iterations", 2000)
    set_slider(page, "restarts", 8)
    page.click("#run")
    page.wait_for_function(f"() => ({STATUS}).includes('Searching')", timeout=120_000)
    page.screenshot(path=str(OUT / "real-app-running.png"), full_page=True)
    page.click("#stop")
    page.wait_for_function(f"() => {STATUS_IDLE} && ({STATUS}).includes('Done in')", timeout=120_000)
    status = page.evaluate(f"() => {STATUS}")
    assert "stopped by you" in status and "Model emoji-faces-64" in status
    assert int(re.search(r"(\d+) iterations", status).group(1)) < 2000


def pick_model(page, name: str) -> None:
    """Choose `name` in the model picker."""
    page.locator("#model input").click()
    page.get_by_role("option", name=name, exact=True).click()


def options(page, elem_id: str) -> list[str]:
    """The choices a dropdown offers (opened, read, closed again), without the chosen one's tick."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option").first.wait_for()
    shown = [t.strip().splitlines()[-1].strip() for t in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    page.get_by_role("option").first.wait_for(state="detached")
    return shown


METHOD_INFO = "document.querySelector('#method').innerText"


@pytest.mark.skipif(not BUNDLED_THERE, reason="the bundled checkpoints are not all there")
def test_three_bundled_models_the_faces_examples_pick_the_faces_model(page, serve):
    """The picker lists the three bundled models, fashion first; each has six examples; a face example
    picks emoji-faces-64 (no context encoder: the Method picker says so and offers the GAN prior only), a
    people example emoji-64 (whose picker offers the context encoder again)."""
    url = serve(None, None).url  # the bundled models and examples
    open_app(page, url, "examples-emoji-faces-64")
    assert page.locator("#model input").input_value() == "fashion-mnist-32"
    assert options(page, "model") == list(layout.BUNDLED)
    galleries = page.evaluate("() => [...document.querySelectorAll('[id^=\"examples-\"]')].map(e => e.id)")
    assert galleries == [f"examples-{name}" for name in layout.BUNDLED]
    for name in layout.BUNDLED:
        assert page.locator(f"#examples-{name} button").count() == 6, name

    status = pick_example(page, "examples-emoji-faces-64", (256, 256))  # twemoji unamused, centre hole
    assert "Model emoji-faces-64 (64×64)" in status
    assert page.locator("#model input").input_value() == "emoji-faces-64"
    page.get_by_text("only the faces of emoji").first.wait_for()  # the model's summary
    page.wait_for_function(f"() => {METHOD_INFO}.includes('emoji-faces-64 ships no context encoder')")
    assert options(page, "method") == ["GAN prior (latent search)"]
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "faces-example.png"), full_page=True)

    status = pick_example(page, "examples-emoji-64", (256, 256))  # twemoji fairy, strokes
    assert "Model emoji-64 (64×64)" in status
    page.wait_for_function(f"() => !{METHOD_INFO}.includes('ships no context encoder')")
    assert options(page, "method") == ["GAN prior (latent search)", "Context encoder (one forward pass)",
                                       "Both side by side"]


# --- the editor's features, as a person uses them ---------------------------------------------------

def test_upload_a_mask_instead_of_painting(page, serve, tiny_checkpoints, tmp_path):
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}).url
    upload_to_editor(page, url, grey_picture(tmp_path / "grey.png"), (96, 96))
    hole = np.zeros((96, 96), bool)
    hole[:48, :48] = True  # the top-left quarter, white
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8), "L").save(tmp_path / "mask.png")
    page.locator("#mask-upload input[type=file]").set_input_files(str(tmp_path / "mask.png"))
    wait_for_editor_image(page, (96, 96))
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "mask-upload.png"))
    assert red_tint(page, (96, 96), (0.05, 0.05, 0.45, 0.45)) > 40  # the mask's white shows as the hole
    assert red_tint(page, (96, 96), (0.55, 0.55, 0.95, 0.95)) < 10
    status = run_and_wait(page)
    assert hole_percent(status) == 25


def test_grow_and_shrink_the_hole_before_filling(page, serve, tiny_checkpoints, tmp_path):
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}).url
    upload_to_editor(page, url, grey_picture(tmp_path / "grey.png"), (96, 96))
    page.get_by_role("button", name="Centre").click()  # the middle quarter of the area: 25%
    wait_for_editor_image(page, (96, 96))
    assert hole_percent(run_and_wait(page)) == 25
    set_slider(page, "grow", 8)
    status = run_and_wait(page)
    assert hole_percent(status) > 35 and "grown by 8 px" in status
    set_slider(page, "grow", -8)
    status = run_and_wait(page)
    assert hole_percent(status) < 15 and "shrunk by 8 px" in status


def test_before_after_slider_and_continue_from_the_result(page, serve, tiny_checkpoints, tmp_path):
    url = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}).url
    upload_to_editor(page, url, grey_picture(tmp_path / "grey.png"), (96, 96))
    page.get_by_role("button", name="Top half").click()
    wait_for_editor_image(page, (96, 96))
    run_and_wait(page)

    # before / after: the slider shows the image with its hole (red) left of the line, the result right of it
    page.get_by_role("tab", name="Before / after").click()
    page.wait_for_function("() => { const imgs = document.querySelectorAll('#compare img');"
                           " return imgs.length >= 2 && [...imgs].every(i => i.complete && i.naturalWidth > 0); }")
    page.wait_for_timeout(500)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "before-after.png"))
    shown = page.locator("#compare img").first.bounding_box()
    assert tint(page, shown, (0.1, 0.1, 0.4, 0.4)) > 40   # before, in the hole: red
    assert tint(page, shown, (0.6, 0.1, 0.9, 0.4)) < 10   # after, in the hole: filled, not red

    # continue from the result: it becomes the editor's image, nothing painted, and fills again
    page.get_by_role("tab", name="Result").click()
    page.click("#continue")
    wait_for_editor_image(page, (96, 96))
    page.screenshot(path=str(OUT / "continue-editor.png"))
    assert red_tint(page, (96, 96), (0.05, 0.05, 0.95, 0.45)) < 10  # the old hole is no longer painted
    paint_stroke(page, (96, 96), y=0.8)
    status = run_and_wait(page)
    assert 0 < hole_percent(status) < 50  # the stroke alone: the top half filled before is not painted again
    page.screenshot(path=str(OUT / "continue.png"), full_page=True)


@pytest.mark.skipif(not (FASHION / "README.md").is_file(), reason="the bundled fashion-mnist-32 is not there")
def test_the_about_tab_shows_the_model_card_as_on_the_hub(page, serve):
    url = serve(None, None).url  # the bundled models
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="About").click()
    page.wait_for_function("() => document.querySelectorAll('#card table').length > 0")
    # the card's own figures: the samples and the completions, loaded
    page.wait_for_function("() => { const imgs = [...document.querySelectorAll('#card img')];"
                           " return ['samples', 'completions'].every(a => imgs.some(i => i.alt === a"
                           " && i.complete && i.naturalWidth > 0)); }")
    # the tables have room: no header is broken inside a word
    broken = page.evaluate("""() => {
        const out = [];
        for (const th of document.querySelectorAll('#card th')) {
            const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                for (const m of node.textContent.matchAll(/\\S+/g)) {
                    const r = document.createRange();
                    r.setStart(node, m.index);
                    r.setEnd(node, m.index + m[0].length);
                    const lines = new Set([...r.getClientRects()].map(c => Math.round(c.top)));
                    if (lines.size > 1) out.push(m[0]);
                }
            }
        }
        return out;
    }""")
    assert broken == [], broken
    card_width = page.locator("#card").bounding_box()["width"]
    assert card_width > 0.6 * page.viewport_size["width"]  # the page's width, not half of it
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "about.png"), full_page=True)


# --- the loss plot, the side by side and the domain check (issue 13) -------------------------------

def plot_drawn(page, elem_id: str) -> bool:
    """Whether the plot `elem_id` is on the page with its chart drawn (vega draws a canvas or an svg)."""
    return page.evaluate(f"""() => {{ const el = document.querySelector('#{elem_id}');
        if (!el || el.offsetParent === null) return false;
        const chart = el.querySelector('canvas, svg.marks');
        return !!chart && chart.getBoundingClientRect().height > 50; }}""")


@pytest.mark.skipif(not (FASHION / "model.safetensors").is_file(), reason="the bundled fashion-mnist-32 is not there")
def test_the_loss_plot_follows_the_search(page, serve):
    OUT.mkdir(parents=True, exist_ok=True)
    url = serve(None, None).url  # the bundled models and examples
    open_app(page, url, "examples-fashion-mnist-32")
    pick_example(page, "examples-fashion-mnist-32", (256, 256))
    page.get_by_text("Advanced").click()
    set_slider(page, "iterations", 2000)
    lam = page.locator("label:has-text('λ (weight') input[type=number]")
    lam.fill("0.003")
    lam.press("Enter")

    # while it searches, the plot is redrawn with each preview: the contextual term, and the perceptual
    # one (λ > 0); a watcher in the page keeps each picture of the plot it sees while the status says so
    page.evaluate(f"""() => {{ window.plotsSeen = new Set();
        window.plotWatch = setInterval(() => {{
            const chart = document.querySelector('#contextual-plot canvas, #contextual-plot svg.marks');
            if (chart && ({STATUS}).includes('Searching'))
                window.plotsSeen.add(chart.toDataURL ? chart.toDataURL() : chart.outerHTML);
        }}, 50); }}""")
    page.click("#run")
    page.wait_for_function(f"() => ({STATUS}).includes('Searching')", timeout=120_000)
    page.wait_for_function("() => document.querySelector('#perceptual-plot')?.offsetParent !== null")
    page.locator("#contextual-plot").scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "loss-plot-running.png"), full_page=True)
    page.wait_for_function("() => window.plotsSeen.size >= 2", timeout=120_000)  # drawn, then redrawn
    page.click("#stop")  # or it stopped early already: the plot stays, whole
    page.wait_for_function(f"() => {STATUS_IDLE} && ({STATUS}).includes('Done in')", timeout=120_000)
    page.evaluate("() => clearInterval(window.plotWatch)")
    page.wait_for_timeout(1000)
    assert plot_drawn(page, "contextual-plot") and plot_drawn(page, "perceptual-plot")
    page.screenshot(path=str(OUT / "loss-plot.png"), full_page=True)

    # λ = 0: no perceptual term, no second panel
    lam.fill("0")
    lam.press("Enter")
    set_slider(page, "iterations", 30)
    run_and_wait(page, timeout_ms=300_000)
    page.wait_for_timeout(1000)
    assert plot_drawn(page, "contextual-plot")
    assert not page.locator("#perceptual-plot").is_visible()


def test_side_by_side_with_the_papers_settings(page, serve, tiny_checkpoints, tmp_path):
    url = serve(tiny_checkpoints).url  # tiny-rgb and tiny-grey
    upload_to_editor(page, url, grey_picture(tmp_path / "grey.png"), (96, 96))
    page.get_by_role("button", name="Centre").click()
    wait_for_editor_image(page, (96, 96))
    status = run_and_wait(page)

    page.get_by_role("tab", name="Side by side").click()
    page.get_by_text("A · tiny-rgb · your settings").wait_for()
    assert page.locator("#first-status").inner_text().strip() == status.strip()
    page.locator("#second-model input").click()
    page.get_by_role("option", name="tiny-grey").click()
    assert page.get_by_role("radio", name="The paper's").is_checked()
    set_slider(page, "paper-iterations", 2000)  # the paper's settings never stop early: Stop ends it
    page.click("#run-second")
    second = "document.querySelector('#second-status [data-testid=markdown]')?.innerText || ''"
    page.wait_for_function(f"() => ({second}).includes('Searching')", timeout=120_000)
    page.get_by_text("B · tiny-grey · the paper's settings").wait_for()
    page.screenshot(path=str(OUT / "side-by-side-running.png"), full_page=True)
    page.click("#stop-second")
    page.wait_for_function(f"() => ({second}).includes('Done in')", timeout=120_000)
    page.wait_for_function("() => ['#first-image', '#second-image'].every(id => { const i = document.querySelector("
                           "id + ' img'); return i && i.complete && i.naturalWidth > 0; })")
    b_status = page.evaluate(f"() => {second}")
    assert "stopped by you" in b_status and "64 restarts" in b_status and "Model tiny-grey" in b_status
    assert hole_percent(b_status) == hole_percent(status)  # the same hole
    # A left of B, level with it
    a, b = page.locator("#first-image").bounding_box(), page.locator("#second-image").bounding_box()
    assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 5
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "side-by-side.png"), full_page=True)


@pytest.mark.skipif(not (FASHION / "model.safetensors").is_file(), reason="the bundled fashion-mnist-32 is not there")
def test_an_image_unlike_the_models_domain_is_warned_about(page, serve, tmp_path):
    from pictures import photo

    OUT.mkdir(parents=True, exist_ok=True)
    url = serve(None, None).url  # the bundled models (fashion-mnist-32 is calibrated) and examples
    # a bright colour picture, nothing like Fashion-MNIST
    upload_to_editor(page, url, photo(96, 96, seed=3).save(tmp_path / "colour.png") or tmp_path / "colour.png",
                     (96, 96))
    page.get_by_role("button", name="Centre").click()
    wait_for_editor_image(page, (96, 96))
    page.get_by_text("Advanced").click()
    set_slider(page, "iterations", 20)
    set_slider(page, "restarts", 8)
    run_and_wait(page)
    badge = page.locator("#domain")
    badge.wait_for(state="visible")
    assert "Out of the model's domain" in badge.inner_text() and "fashion-mnist" in badge.inner_text()
    toast = page.locator("[data-testid=toast-body]")
    toast.first.wait_for(state="visible")
    assert "Out of the model's domain" in toast.first.inner_text() and "fashion-mnist" in toast.first.inner_text()
    badge.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "out-of-domain.png"))
    page.locator("[data-testid=toast-close]").first.click()
    toast.first.wait_for(state="detached")

    # a Fashion-MNIST test image (the app's own example, filled when picked): no warning
    status = pick_example(page, "examples-fashion-mnist-32", (256, 256))
    page.wait_for_timeout(1000)
    assert "looks unlike" not in status
    assert not badge.is_visible() and toast.count() == 0
    page.locator("#result").scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "in-domain.png"))


# --- the Restore tab (issue 16) and the method choice (issue 15) -------------------------------------

RESTORE_STATUS = "document.querySelector('#restore-status [data-testid=markdown]')?.innerText || ''"


def shown_image(page, elem_id: str) -> dict:
    """The natural size of the image `elem_id` shows, once it is loaded: {"width", "height"}."""
    page.wait_for_function(f"() => {{ const i = document.querySelector('#{elem_id} img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    return page.evaluate(f"() => {{ const i = document.querySelector('#{elem_id} img');"
                         " return {width: i.naturalWidth, height: i.naturalHeight}; }")


def degrade_and_restore(page, task: str, timeout_ms: int = 120_000) -> str:
    """On the Restore tab: pick `task`, degrade the next example, restore it; the status."""
    page.locator("#restore-task").get_by_text(task, exact=True).click()
    before = page.evaluate(f"() => {RESTORE_STATUS}")
    page.click("#degrade-example")
    page.wait_for_function(f"(before) => ({RESTORE_STATUS}).includes('Press Restore') && ({RESTORE_STATUS}) !== before",
                           arg=before)
    shown_image(page, "restore-input")
    shown_image(page, "restore-truth")
    page.click("#restore-run")
    page.wait_for_function(f"() => ({RESTORE_STATUS}).includes('Done in')", timeout=timeout_ms)
    return page.evaluate(f"() => {RESTORE_STATUS}")


def test_restore_tab_degrades_an_example_and_restores_it(page, serve, tiny_checkpoints, tmp_path):
    examples = [{"model": "tiny-rgb", "image": str(grey_picture(tmp_path / "example.png")), "hole": "center",
                 "caption": "grey ramp"}]
    served = serve({"tiny-rgb": tiny_checkpoints["tiny-rgb"]}, examples)
    page.goto(served.url, wait_until="load")
    page.get_by_role("tab", name="Restore").click()
    # the task's own settings only: the blur's for deblurring, the factor for upscaling
    page.locator("#restore-strength").wait_for(state="visible")
    assert not page.locator("#restore-factor").is_visible()
    page.locator("#restore-task").get_by_text("Upscale", exact=True).click()
    page.locator("#restore-factor").wait_for(state="visible")
    assert not page.locator("#restore-strength").is_visible()

    status = degrade_and_restore(page, "Upscale")  # x4: the 16x16 example as a 4x4 image
    assert "Undid downsampling by 4" in status and "the input is 4×4, the result 16×16" in status
    # the input, the result and the example's truth side by side, shown at one size
    sizes = [shown_image(page, name) for name in ("restore-input-view", "restore-result", "restore-truth")]
    assert sizes == [{"width": 256, "height": 256}] * 3
    boxes = [page.locator(f"#{name}").bounding_box() for name in ("restore-input-view", "restore-result",
                                                                   "restore-truth")]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"] and abs(boxes[0]["y"] - boxes[1]["y"]) < 5
    page.wait_for_function("() => document.querySelectorAll('#restore-candidates img').length > 0")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "restore-tiny.png"), full_page=True)

    status = degrade_and_restore(page, "Deblur")
    assert "Undid a Gaussian blur of sigma 2 px" in status and "the result 16×16" in status

    # the visitor's own image: no truth beside it
    Image.new("RGB", (20, 16), (90, 120, 150)).save(tmp_path / "own.png")
    page.locator("#restore-input input[type=file]").set_input_files(str(tmp_path / "own.png"))
    page.locator("#restore-truth").wait_for(state="hidden")
    page.click("#restore-run")
    page.wait_for_function(f"() => ({RESTORE_STATUS}).includes('the input is 20×16')", timeout=120_000)

    # the API's /restore, from another client
    from gradio_client import handle_file

    Image.new("RGB", (8, 6), (90, 120, 150)).save(tmp_path / "small.png")
    result, gallery, raw, status = served.client().predict(handle_file(str(tmp_path / "small.png")), task="upscale",
                                                           factor=2, iterations=5, restarts=2, api_name="/restore")
    assert Image.open(result).size == (16, 12) and status.startswith("Done in")


@pytest.mark.skipif(not BUNDLED_THERE, reason="the bundled checkpoints are not all there")
def test_restore_tab_on_the_real_app(page, serve):
    """The bundled models: colourising is offered for the emoji models (colour) and not for fashion-mnist-32."""
    url = serve(None, None).url  # the bundled models and examples
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Restore").click()
    task = page.locator("#restore-task")
    task.get_by_text("Deblur", exact=True).wait_for()
    page.wait_for_timeout(1000)  # the page's load event sets the tasks for the model
    assert task.get_by_text("Colourise", exact=True).count() == 0  # fashion-mnist-32 is greyscale
    for name in ("emoji-faces-64", "emoji-64"):
        pick_model(page, name)
        task.get_by_text("Colourise", exact=True).wait_for()
    status = degrade_and_restore(page, "Deblur", timeout_ms=300_000)
    assert "Model emoji-64" in status and "the result 64×64" in status
    page.locator("#restore-tab").scroll_into_view_if_needed()
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "restore-real.png"), full_page=True)


@pytest.mark.skipif(not (FASHION / "context-encoder" / "model.safetensors").is_file(),
                    reason="the bundled fashion-mnist-32 has no context encoder here")
def test_both_methods_side_by_side(page, serve):
    """Method "Both side by side": the GAN prior's fill on the Inpaint tab, then the Side by side tab with
    it (A) next to the context encoder's (B) on the same image and hole."""
    url = serve(None, None).url  # the bundled models (with their context encoders) and examples
    open_app(page, url, "examples-fashion-mnist-32")
    pick_example(page, "examples-fashion-mnist-32", (256, 256))
    page.locator("#method input").click()
    page.get_by_role("option", name="Both side by side").click()
    page.get_by_text("Advanced").click()
    set_slider(page, "iterations", 30)
    status = run_and_wait(page, timeout_ms=300_000)
    assert "Both side by side" in status
    second = "document.querySelector('#second-status [data-testid=markdown]')?.innerText || ''"
    page.wait_for_function(f"() => ({second}).includes('Done in')", timeout=120_000)
    page.get_by_text("B · fashion-mnist-32 · the context encoder").wait_for()  # the Side by side tab is shown
    page.get_by_text("A · fashion-mnist-32 · the GAN prior, your settings").wait_for()
    page.wait_for_function("() => ['#first-image', '#second-image'].every(id => { const i = document.querySelector("
                           "id + ' img'); return i && i.complete && i.naturalWidth > 0; })")
    b_status = page.evaluate(f"() => {second}")
    assert hole_percent(b_status) == hole_percent(status)  # the same hole
    a, b = page.locator("#first-image").bounding_box(), page.locator("#second-image").bounding_box()
    assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 5
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "both-methods.png"), full_page=True)
