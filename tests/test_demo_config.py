"""`make demo` leaves no setting pointing off the machine, and `make web` serves on loopback."""

import shutil
import sys

from conftest import EXAMPLE, ROOT
from fls_dev.config import off_machine

sys.path.insert(0, str(ROOT / 'scripts'))


def test_example_points_off_the_machine_and_the_demo_config_does_not(tmp_path, monkeypatch):
    import demo
    import demo_corepos
    from fls_dev.server import write_web_conf
    outside = {(section, key) for section, key, _ in off_machine(EXAMPLE)}
    assert {('rattail_fls', 'odoo.url'), ('corepos.api', 'url')} <= outside  # what the demo must replace

    shutil.copy(EXAMPLE, tmp_path / 'rattail.conf.example')
    monkeypatch.setattr(demo, 'APP', tmp_path)
    demo.write_app_config()
    # what the CORE-POS step writes: the loopback CORE-POS and the local MariaDB
    demo_corepos.configure(tmp_path, 'http://127.0.0.1:41234/fannie/ws/',
                           'mysql+pymysql://root@127.0.0.1:3306/fls_demo_office_op')
    assert off_machine(tmp_path / 'rattail.conf') == []
    web_conf = write_web_conf(tmp_path / 'rattail.conf', 9080).read_text()
    assert 'host = 127.0.0.1' in web_conf and off_machine(tmp_path / 'web.conf') == []
