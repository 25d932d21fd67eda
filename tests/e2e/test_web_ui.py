"""The web UI shows a finished run of the sample DAG: headless Chromium driven by Selenium logs into
the api-server (SimpleAuthManager's login page) and opens the mapped ``enrich_users`` instances of a
run over the demo organisation (20 users, batches of 10), labelled by batch and successful.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) and the ``selenium`` package. Screenshots go to ``test-artifacts/``
(gitignored).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import REPO
from tests.support.airflow_stack import ADMIN_USER, DAG_ID

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"
LABELS = ("123456789012 · users 1–10", "123456789012 · users 11–20")  # en dash, middle dot
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
    "--lang=en-US",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(
            f"{CHROMIUM} or {CHROMEDRIVER} missing: apt-get install -y chromium chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # An explicit driver and browser: Selenium Manager (which would download them) never runs.
    driver_log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER), log_output=str(driver_log))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path


def log_in(driver, stack, next_path: str) -> None:
    """Through SimpleAuthManager's own login form, then on to ``next_path``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{stack.base_url}{next_path}")
    wait = WebDriverWait(driver, 30)
    # The UI sends an anonymous visitor to the auth manager's login page.
    username = wait.until(ec.visibility_of_element_located((By.NAME, "username")))
    assert "/auth/login" in driver.current_url, driver.current_url
    username.send_keys(ADMIN_USER)
    driver.find_element(By.NAME, "password").send_keys(stack.password)
    wait.until(ec.element_to_be_clickable((By.XPATH, "//button[@type='submit']"))).click()
    wait.until(lambda d: "/auth/login" not in d.current_url)


def test_mapped_enrichment_batches_are_labelled_and_successful(
    browser,
    airflow_stack,
    demo_dag_run,
):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    stack, run = airflow_stack, demo_dag_run
    assert run.run["state"] == "success"
    mapped = f"/dags/{DAG_ID}/runs/{quote(run.run_id, safe='')}/tasks/enrich_users/mapped"
    log_in(browser, stack, mapped)
    assert browser.current_url.endswith(mapped), browser.current_url

    def rows(driver) -> dict[str, str] | None:
        """Text of the table row of each batch label, once every label has its row."""
        found = {}
        for label in LABELS:
            cells = driver.find_elements(By.XPATH, f"//tr[.//*[normalize-space(text())='{label}']]")
            if not cells:
                return None
            found[label] = cells[0].text
        return found

    try:
        found = WebDriverWait(browser, 45, poll_frequency=0.5).until(rows)
    except TimeoutException:
        shot = screenshot(browser, "web_ui_enrich_users_mapped_FAILED.png")
        page = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(
            f"batch labels {LABELS} not shown at {browser.current_url} (screenshot {shot})\n{page}"
        ) from None
    shot = screenshot(browser, "web_ui_enrich_users_mapped.png")
    for label, text in found.items():
        assert "success" in text.lower(), f"{label}: no success state in row {text!r} ({shot})"
    # Exactly the two batches: no third mapped instance.
    assert len(browser.find_elements(By.XPATH, "//tbody/tr")) == len(LABELS), shot

    # The run's page (grid + details) shows the finished run as a whole.
    browser.get(f"{stack.base_url}/dags/{DAG_ID}/runs/{quote(run.run_id, safe='')}")
    WebDriverWait(browser, 30).until(
        lambda d: (
            run.run_id in d.find_element(By.TAG_NAME, "body").text
            and "success" in d.find_element(By.TAG_NAME, "body").text.lower()
        )
    )
    screenshot(browser, "web_ui_run.png")


def test_demo_run_wrote_two_batches(demo_dag_run):
    """The run the browser looks at is the one we think: 20 events in two files."""
    files = sorted(demo_dag_run.output_dir.rglob("*.ndjson"))
    assert [f.name for f in files] == ["part-00000.ndjson", "part-00001.ndjson"]
    assert [len(f.read_text().splitlines()) for f in files] == [10, 10]


@pytest.mark.both_ends
def test_iam_inventory_page_shows_the_demo_account_in_the_ui(browser, airflow_stack, demo_dag_run):
    """The provider's plugin page, framed in the UI (Browse > IAM inventory): the demo account's
    row for the ``file`` sink with its 20 users; its run link opens the run in the UI itself.
    On 3.0 the page has a tab of its own (Plugins > AWS IAM), signed in with the UI's token."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.airflow_compat import AIRFLOW_3_0

    stack, run = airflow_stack, demo_dag_run
    if AIRFLOW_3_0:
        page_in_its_own_tab(browser, stack)
        return
    page = "/plugin/iam-inventory"
    browser.get(f"{stack.base_url}{page}")
    if "/auth/login" in browser.current_url or browser.find_elements(By.NAME, "username"):
        log_in(browser, stack, page)
    row_xpath = "//tr[@data-account='123456789012'][@data-sink='file']"
    try:
        WebDriverWait(browser, 45).until(
            ec.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe"))
        )
        row = WebDriverWait(browser, 30).until(
            ec.visibility_of_element_located((By.XPATH, row_xpath))
        )
    except TimeoutException:
        browser.switch_to.default_content()
        shot = screenshot(browser, "web_ui_iam_inventory_FAILED.png")
        raise AssertionError(f"no inventory row at {browser.current_url} ({shot})") from None
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0].split() == ["123456789012", "aws_demo"], cells
    assert cells[1:5] == ["file", "20", "0", "0"], cells  # users held, incomplete, tombstones
    assert "ok" in cells[-1], cells
    browser.switch_to.default_content()
    screenshot(browser, "web_ui_iam_inventory.png")

    # The run link is followed by the UI's own window, not inside the frame.
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    browser.find_element(By.XPATH, f"{row_xpath}/td[7]/a").click()
    browser.switch_to.default_content()
    run_path = f"/dags/{DAG_ID}/runs/{quote(run.run_id, safe='')}"
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith(run_path))


def page_in_its_own_tab(browser, stack) -> None:
    """3.0's way: sign in to the UI (its token goes to the browser's local storage), then open
    ``/iam-inventory/`` as the menu entry does; the page asks again with that token."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    log_in(browser, stack, "/")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return window.localStorage.getItem('token')")
    )
    browser.get(f"{stack.base_url}/iam-inventory/")
    row_xpath = "//tr[@data-account='123456789012'][@data-sink='file']"
    try:
        row = WebDriverWait(browser, 45).until(
            ec.visibility_of_element_located((By.XPATH, row_xpath))
        )
    except TimeoutException:
        shot = screenshot(browser, "web_ui_iam_inventory_3_0_FAILED.png")
        page = browser.find_element(By.TAG_NAME, "body").text
        where = f"{browser.current_url} ({shot})"
        raise AssertionError(f"no inventory row at {where}\n{page}") from None
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0].split() == ["123456789012", "aws_demo"], cells
    assert cells[1:5] == ["file", "20", "0", "0"], cells
    assert "ok" in cells[-1], cells
    screenshot(browser, "web_ui_iam_inventory_3_0.png")
