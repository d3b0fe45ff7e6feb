"""An operator's visit to the admin in headless Chromium: log in, search the sync records,
and run "Sync now" through its confirmation page, with a real worker, Bugsink and the Gitea
stand-in behind it.

Debian's chromium and chromium-driver packages provide the browser (.ci/run installs them),
because Selenium's own browser download cannot reach the internet here. Without them the
test is skipped on a developer's machine and fails in CI (CI=true).
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from config.celery import app
from syncapp.models import SyncRecord, SyncRun
from syncapp.tasks import sync_bugsink_to_gitea
from tests.bugsink_server import BugsinkServer
from tests.celery_worker import CeleryWorker
from tests.gitea_standin import GiteaStandin
from tests.plugin_gitea import running_in_ci

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "a-long-operator-password-1"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        reason = f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver"
        if running_in_ci():
            pytest.fail(f"{reason} (CI=true, so a missing browser fails)", pytrace=False)
        pytest.skip(reason)

    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        # Chromium's sandbox does not start as root, which CI runs as.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def log_in(browser: WebDriver, base_url: str) -> None:
    browser.get(f"{base_url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("operator")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Site administration" in browser.title


def result_rows(browser: WebDriver) -> list[str]:
    return [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")]


def test_operator_searches_records_and_syncs_now(
    browser: WebDriver,
    live_server: Any,
    bugsink_server: BugsinkServer,
    standin: GiteaStandin,
    worker: CeleryWorker,
    live_settings: Any,
    tmp_path: Path,
) -> None:
    standin.reset()
    get_user_model().objects.create_superuser("operator", password=PASSWORD)
    project = bugsink_server.create_project("Backend Production browser")
    bugsink_server.send_exception(project, "ValueError", "browser-search-needle in checkout")
    bugsink_server.wait_for_issues(project["id"], 1)
    sync_bugsink_to_gitea.delay(trigger="schedule").get(timeout=120)
    record = SyncRecord.objects.get(project_slug=project["slug"])
    bugsink_server.send_exception(project, "KeyError", "'arrives before sync now'")
    bugsink_server.wait_for_issues(project["id"], 2)

    log_in(browser, live_server.url)
    browser.find_element(By.LINK_TEXT, "Sync records").click()
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys("browser-search-needle", Keys.ENTER)

    [row] = result_rows(browser)
    assert record.bugsink_short_id in row
    gitea_link = browser.find_element(By.LINK_TEXT, f"#{record.gitea_issue_number}")
    assert gitea_link.get_attribute("href") == record.gitea_issue_url
    browser.save_screenshot(str(tmp_path / "records.png"))

    browser.find_element(By.ID, "sync-now-link").click()
    assert "Start a sync run now?" in browser.page_source
    browser.save_screenshot(str(tmp_path / "confirmation.png"))
    browser.find_element(By.NAME, "confirm").click()

    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    task_id = re.search(r"task ([0-9a-f-]{36})", message).group(1)
    outcome = AsyncResult(task_id, app=app).get(timeout=120)
    assert outcome["status"] == "succeeded", worker.log_tail()
    assert outcome["synced"] >= 1
    browser.refresh()
    run = SyncRun.objects.get(task_id=task_id)
    run_row = next(text for text in result_rows(browser) if text.startswith(f"{run.pk} "))
    assert "manual by operator" in run_row
    assert "Succeeded" in run_row
    browser.save_screenshot(str(tmp_path / "runs.png"))
    assert SyncRecord.objects.filter(project_slug=project["slug"]).count() == 2
