"""The web app in a real browser: Debian's chromium driven by Selenium, no internet.

Chromium gets a dead proxy for every host but loopback and a resolver that
answers nothing, so a page that needs a CDN or any outside host breaks here;
every page must load with no JavaScript error in the console.  Screenshots
of each page are saved under the test's tmp dir.
"""

import shutil
import threading

import pytest

from conftest import PASSWORD

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'


@pytest.fixture(scope='module')
def live_url(wsgi_app):
    """The test app served by waitress on a loopback port."""
    from waitress.server import create_server
    server = create_server(wsgi_app, host='127.0.0.1', port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    yield f'http://127.0.0.1:{server.effective_port}'
    server.close()


@pytest.fixture(scope='module')
def browser(live_url, tmp_path_factory):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are required (scripts/prereqs.sh installs them)",
                    pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--window-size=1400,1000', '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--disable-default-apps',
                # no route out: only loopback is reachable, no name resolves
                '--proxy-server=http://127.0.0.1:9',  # loopback is never proxied
                '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
                f'--user-data-dir={tmp_path_factory.mktemp("chromium")}'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield Browser(driver, live_url, tmp_path_factory.mktemp('screenshots'))
    driver.quit()


class Browser:
    """A page at a time: open it, wait for Vue to mount it, screenshot, check the console."""

    def __init__(self, driver, base_url, shots):
        self.driver, self.base_url, self.shots = driver, base_url, shots

    def open(self, path, name):
        self.driver.get(self.base_url + path)
        self.wait_for_vue()
        return self.check(name)

    def wait_for_vue(self):
        from selenium.webdriver.support.ui import WebDriverWait
        from selenium.common.exceptions import TimeoutException
        try:
            WebDriverWait(self.driver, 30).until(
                lambda d: d.execute_script("return document.readyState") == 'complete'
                and d.execute_script("return !document.querySelector('whole-page')"))
        except TimeoutException:
            self.driver.save_screenshot(str(self.shots / 'timeout.png'))
            raise AssertionError(f"{self.driver.current_url}: the page was not mounted by Vue; console: "
                                 f"{self.driver.get_log('browser')}") from None

    def check(self, name):
        """Screenshot the page, and fail on any console error it logged."""
        self.driver.save_screenshot(str(self.shots / f'{name}.png'))
        errors = [entry['message'] for entry in self.driver.get_log('browser')
                  if entry['level'] == 'SEVERE']
        assert not errors, f"{name}: JavaScript errors: {errors}"
        return self.driver

    def log_in(self, username):
        """Log in afresh (whoever was logged in), so that each test stands on its own."""
        from selenium.webdriver.common.by import By
        self.driver.get(self.base_url + '/logout')
        self.open('/login', 'login')
        self.driver.find_element(By.NAME, 'username').send_keys(username)
        self.driver.find_element(By.NAME, 'password').send_keys(PASSWORD)
        return self.submit('home')

    def submit(self, name, css='form button[type=submit]'):
        """Click the form's submit button and wait for the next page."""
        from selenium.webdriver.common.by import By
        return self.click(self.driver.find_element(By.CSS_SELECTOR, css), name)

    def click(self, element, name):
        """Click a link or button and wait for the page it opens."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait
        page = self.driver.find_element(By.TAG_NAME, 'html')
        element.click()
        WebDriverWait(self.driver, 30).until(expected_conditions.staleness_of(page))
        self.wait_for_vue()
        return self.check(name)


def test_pages_load_offline(browser, users):
    from selenium.webdriver.common.by import By
    driver = browser.log_in(users['admin'])
    assert 'Logout' in driver.page_source or 'logout' in driver.page_source
    driver.get(browser.base_url + '/root/yes')
    for path, name in [('/fls/retail-points/', 'retail-points'), ('/fls/shards/', 'shards'),
                       ('/fls/inbox/', 'inbox'), ('/fls/summaries/', 'summaries'),
                       ('/roles/', 'roles'), ('/users/', 'users'), ('/appinfo/', 'appinfo')]:
        browser.open(path, name)
        assert driver.find_elements(By.CSS_SELECTOR, 'table'), f"{path}: no grid was drawn"



def test_create_role_and_user(browser, users):
    """The forms a browser really submits: both land on the new record's page."""
    from selenium.webdriver.common.by import By
    driver = browser.driver
    for path, field, value in (('/roles/', 'name', 'Browser Role'), ('/users/', 'username', 'browseruser')):
        browser.open(f'{path}new', f'{path.strip("/")}-new')
        driver.find_element(By.NAME, field).send_keys(value)
        browser.submit(f'{path.strip("/")}-created')
        assert driver.title.endswith(f'» {value}'), (driver.current_url, driver.title)


def test_dashboard_chart_is_drawn(browser, users, app, config, shards):
    """The home page of an FLS user: Chart.js (served by the app) draws the 30 days."""
    import datetime
    from test_web_dashboard import add_days
    from conftest import make_shop
    make_shop(app, shards, 8401, 's02')
    today = app.today()
    add_days(config, 8401, {today - datetime.timedelta(days=n): (20 + n % 7 * 3, 60 + n % 5 * 11)
                            for n in range(30)})
    browser.log_in(users['admin'])
    browser.driver.get(browser.base_url + '/root/yes')  # an administrator acts as root
    driver = browser.open('/', 'dashboard')
    drawn = driver.execute_script(
        "const c = window.flsDailyChart; return c && [c.data.labels.length, c.canvas.width,"
        " c.getDatasetMeta(0).data.length]")
    assert drawn and drawn[0] == 30 and drawn[1] > 0 and drawn[2] == 30, drawn


def test_sales_and_a_sale_page(browser, users, shop_sales):
    """A shop's sales from its shard, then one sale with its lines."""
    from selenium.webdriver.common.by import By
    from test_web_sales import DAY1, DAY2
    driver = browser.open(f'/fls/sales/?retail_point_id=8501&date_from={DAY1}&date_to={DAY2}', 'sales')
    links = driver.find_elements(By.CSS_SELECTOR, 'table.fls-sales a')
    assert len(links) == 50
    browser.click(links[0], 'sale')
    assert driver.find_elements(By.CSS_SELECTOR, 'table.fls-lines tbody tr')


def test_retail_point_form_choices(browser, users):
    """One "policy" choice, selected (not Buefy's placeholder too); Active reads Yes, not "true"."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    driver = browser.open('/fls/retail-points/new', 'retail-point-new')
    shard = Select(driver.find_element(By.CSS_SELECTOR, 'select[name=shard_uuid]'))
    assert shard.first_selected_option.text == '(assign by policy)'
    assert [o.text for o in shard.options].count('(please choose)') == 0 or \
        not driver.find_element(By.XPATH, "//select[@name='shard_uuid']/option[1]").is_displayed()
    active = driver.find_element(By.XPATH, "//input[@name='active']/ancestor::label")
    assert active.text.strip() == 'Yes'


def test_fix_and_replay_a_rejected_payload(browser, users, app, config, shards):
    """The edit form of a rejected row: its contract error, the corrected payload saved (which
    replays it), the real processor stores the sale, and the row's page says so."""
    import json
    import random
    import simplejson
    from selenium.webdriver.common.by import By
    from fls_dev.loopback.shops import make_order
    from conftest import make_shop
    from test_web_actions import DAY
    from test_web_ops import inbox_status, rejected_row
    make_shop(app, shards, 8740, 's02')
    good = make_order(random.Random(8740), 8740, DAY, 1)
    inbox_id = rejected_row(config, dict(good, sale_date='21/11/2026'),
                            [{'field': 'sale_date', 'reason': 'must be a date "YYYY-MM-DD"'}])
    browser.log_in(users['admin'])
    browser.driver.get(browser.base_url + '/root/yes')
    driver = browser.open(f'/fls/inbox/{inbox_id}/edit', 'inbox-edit')
    body = driver.find_element(By.CSS_SELECTOR, 'textarea[name=body]')
    assert json.loads(body.get_attribute('value'))['sale_date'] == '21/11/2026'
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))",
                          body, simplejson.dumps(good, use_decimal=True))
    browser.submit('inbox-replayed', 'form button[type=submit].is-primary')
    assert 'was replayed with the corrected payload' in driver.page_source
    assert tuple(inbox_status(config, inbox_id)) == ('pending', 'replay')
    assert config.get_app().get_fls_handler().get_processor().drain([inbox_id], only=True)['done'] == 1
    browser.open(f'/fls/inbox/{inbox_id}', 'inbox-stored')
    assert 'is-success">done</span>' in driver.page_source.replace("'", '"')
    browser.open(f'/fls/sales/?retail_point_id=8740&date_from={DAY}&date_to={DAY}', 'inbox-stored-sale')
    assert good['sale_num'] in driver.page_source  # read back from its shard


def test_push_a_summary_to_odoo(browser, users, app, config, web_odoo):
    """Push now from a summary's page: the confirmation, then the loopback Odoo has the record."""
    from selenium.webdriver.common.by import By
    from test_export import make_summaries, summary
    from test_web_actions import DAY
    uuid, = make_summaries(app, 8741, day=DAY)
    browser.log_in(users['admin'])
    browser.driver.get(browser.base_url + '/root/yes')
    driver = browser.open(f'/fls/summaries/{uuid}', 'summary')
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait
    push = WebDriverWait(driver, 30).until(expected_conditions.element_to_be_clickable(
        (By.CSS_SELECTOR, f'a[href$="/fls/summaries/{uuid}/push"]')))
    browser.click(push, 'summary-push')
    assert web_odoo.url in driver.page_source and summary(config, uuid).status == 'pending'
    browser.submit('summary-pushed', 'form button[type=submit].is-primary')
    assert 'was sent to Odoo: local_data_id 1' in driver.page_source
    assert summary(config, uuid).status == 'sent'
    assert [r['sale_num'] for r in web_odoo.records.values()] == [summary(config, uuid).sale_num]
