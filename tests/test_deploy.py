"""The process files under ``deploy/``: every command they run comes up against a test install and
stops on SIGTERM (workers within their unit's stop timeout, mid-drain); every scheduled job runs.

systemd and supervisor themselves are not started: the test reads ``ExecStart`` / ``command`` /
crontab lines, puts a test install where they expect ``/srv/theo`` and runs them as they would.
"""

import configparser
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import simplejson
from rq import Worker

from fls_dev.config import render
from fls_dev.loopback.odoo import LoopbackOdoo
from fls_dev.loopback.shops import generate_orders, recent_days
from fls_dev.server import free_port, read_env_file

from coreenv import core_env
from conftest import ROOT

DEPLOY = ROOT / 'deploy'
SYSTEMD = DEPLOY / 'systemd'
PREFIX = '/srv/theo'
QUEUES = ('sales_processing', 'day_close', 'send_summary')


def unit(path):
    """A unit file as ``{section: {key: value}}`` (systemd syntax is close enough to ini)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(path)
    return {s: dict(parser[s]) for s in parser.sections()}


def systemd_argv(exec_start, root, instance=None):
    """``ExecStart`` as systemd runs it: specifiers expanded, ``/srv/theo`` replaced by ``root``."""
    line = exec_start.replace('%i', instance or '').replace('%%', '%').replace(PREFIX, str(root))
    return shlex.split(line)


def cron_jobs():
    """``[(schedule, user, command)]`` of deploy/cron/rattail-fls."""
    jobs = []
    for line in (DEPLOY / 'cron' / 'rattail-fls').read_text().splitlines():
        if not line.strip() or line.startswith('#') or re.match(r'^[A-Z]+=', line):
            continue
        fields = line.split(None, 6)
        jobs.append((' '.join(fields[:5]), fields[5], fields[6]))
    return jobs


def supervisor_programs():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(DEPLOY / 'supervisor' / 'rattail-fls.conf')
    return {s.split(':', 1)[1]: dict(parser[s]) for s in parser.sections() if s.startswith('program:')}


# -- the files themselves -------------------------------------------------------------------------

def test_every_timer_starts_an_existing_oneshot_service():
    timers = sorted(SYSTEMD.glob('*.timer'))
    assert {t.stem for t in timers} == {'fls-sweep', 'fls-corepos-import', 'fls-export', 'fls-compress',
                                        'fls-inbox-prune'}
    for timer in timers:
        assert unit(timer)['Timer']['OnCalendar']
        service = unit(timer.with_suffix('.service'))
        assert service['Service']['Type'] == 'oneshot'


def test_cron_and_timers_run_the_same_commands():
    def command(text):
        return re.sub(r'.*?bin/rattail -c \S+ ', '', text).split(' >>')[0]
    from_timers = {command(unit(t.with_suffix('.service'))['Service']['ExecStart'])
                   for t in SYSTEMD.glob('*.timer')}
    assert {command(c) for _, _, c in cron_jobs()} == from_timers
    assert all(user == 'rattail' for _, user, _ in cron_jobs())


def test_supervisor_runs_what_systemd_runs():
    programs = supervisor_programs()
    services = {unit(p)['Service']['ExecStart'] for p in SYSTEMD.glob('*.service')}
    assert programs['fls-web']['command'] in services and programs['fls-intake']['command'] in services
    queues = sorted(re.search(r'--queue (\S+)', p['command']).group(1) for name, p in programs.items()
                    if 'fls-worker' in p['command'])
    assert queues == sorted(QUEUES)


# -- running them ---------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def install(tmp_path_factory):
    """A test install laid out like /srv/theo: bin/, app/rattail.conf, quiet.conf, web.conf, intake.conf."""
    with core_env(tmp_path_factory, 'deploy') as env, LoopbackOdoo() as odoo:
        root = tmp_path_factory.mktemp('srv') / 'theo'
        app = root / 'app'
        (app / 'log').mkdir(parents=True)
        (root / 'bin').symlink_to(Path(sys.executable).parent)
        conf = render(env.config_path.read_text(), {('rattail_fls', 'odoo.url'): odoo.url,
                                                    ('rattail_fls', 'intake.batch_size'): '5'})
        (app / 'rattail.conf').write_text(conf)
        (app / 'quiet.conf').write_text(conf)
        ports = {'web': free_port(), 'intake': free_port(), 'intake-granian': free_port()}
        (app / 'web.conf').write_text(render((ROOT / 'app' / 'web.conf.example').read_text(), {
            ('server:main', 'port'): str(ports['web']),
            ('app:main', 'beaker.session.secret'): 'test-only-secret'}))
        (app / 'intake.conf').write_text(render((ROOT / 'app' / 'intake.conf.example').read_text(), {
            ('server:main', 'port'): str(ports['intake'])}))
        (app / 'intake.granian.env').write_text(re.sub(
            r'(?m)^GRANIAN_PORT=.*$', f"GRANIAN_PORT={ports['intake-granian']}",
            (ROOT / 'app' / 'intake.granian.env.example').read_text()))
        env.cli('make-user', 'shop901', '--no-password')
        env.cli('fls-shards', 'assign', '901', 's01', '--name', 'Deploy shop')
        token = env.cli('fls-tokens', 'create', 'shop901', '--retail-point', '901').stdout.split()[-1]
        yield {'root': root, 'env': env, 'ports': ports, 'token': token}


def start(argv, root, service=None):
    """Run ``argv`` in ``root``, with the unit's ``EnvironmentFile`` if ``service`` names one."""
    env = dict(os.environ)
    if service and 'EnvironmentFile' in service:
        env.update(read_env_file(service['EnvironmentFile'].replace(PREFIX, str(root))))
    return subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)


def wait_for(check, what, process):
    """Poll ``check`` until true; the deadline only stops a hung test (not a timed assert)."""
    for _ in range(600):
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        try:
            if check():
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come up")


def stop_within(process, seconds):
    """SIGTERM, as systemd/supervisor send it; the process must end within the unit's stop timeout."""
    os.kill(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"still running {seconds}s after SIGTERM")


@pytest.mark.parametrize('name, path', [('fls-web', '/login'), ('fls-intake', '/api/fls/health'),
                                        ('fls-intake-granian', '/api/fls/health')])
def test_web_services_come_up_and_stop(name, path, install):
    service = unit(SYSTEMD / f'{name}.service')['Service']
    process = start(systemd_argv(service['ExecStart'], install['root']), install['root'], service)
    port = install['ports'][name.split('-', 1)[1]]
    wait_for(lambda: requests.get(f'http://127.0.0.1:{port}{path}', timeout=5).status_code == 200,
             name, process)
    stop_within(process, int(service['TimeoutStopSec']))


def pending(env):
    return env.scalar("SELECT count(*) FROM fls_inbox WHERE status = 'pending' AND retail_point_id = 901")


def test_workers_come_up_and_stop_mid_drain(install, redis_conn):
    root, env = install['root'], install['env']
    service = unit(SYSTEMD / 'fls-worker@.service')['Service']
    intake = start(systemd_argv(unit(SYSTEMD / 'fls-intake.service')['Service']['ExecStart'], root), root)
    url = f"http://127.0.0.1:{install['ports']['intake']}"
    try:
        wait_for(lambda: requests.get(url + '/api/fls/health', timeout=5).ok, 'intake', intake)
        orders = generate_orders([901], recent_days(2), 400, seed=9)
        answer = requests.post(url + '/api/fls/sales', data=simplejson.dumps(orders, use_decimal=True),
                               headers={'Authorization': f"Token {install['token']}"}, timeout=120)
        assert answer.json()['accepted'] == len(orders)
    finally:
        stop_within(intake, 30)

    # the intake woke the queue; a worker drains it in batches of 5 and is stopped mid-way
    workers = {instance: start(systemd_argv(service['ExecStart'], root, instance), root)
               for instance in ('sales_processing.1', 'day_close', 'send_summary')}
    try:
        for instance, process in workers.items():
            wait_for(lambda: any(w.pid == process.pid for w in Worker.all(connection=redis_conn)),
                     f'fls-worker@{instance}', process)
        sales = workers['sales_processing.1']
        wait_for(lambda: pending(env) < len(orders), 'the drain', sales)
        assert [w.queue_names() for w in Worker.all(connection=redis_conn) if w.pid == sales.pid] == \
            [['sales_processing']]
    finally:
        codes = {instance: stop_within(p, int(service['TimeoutStopSec'])) for instance, p in workers.items()}
    assert codes == {instance: 0 for instance in workers}  # warm shutdowns
    left = pending(env)
    assert 0 < left < len(orders), "the drain job should have stopped after its current batch"

    # the next worker takes what is left (the stopping one re-queued the drain)
    argv = systemd_argv(service['ExecStart'], root, 'sales_processing.2')
    argv[2] += ' --burst'  # the sh -c script: exit once the queue is empty
    again = start(argv, root)
    try:
        assert again.wait(timeout=600) == 0
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
    assert pending(env) == 0
    assert env.scalar("SELECT count(*) FROM fls_s01.sale WHERE retail_point_id = 901") == len(orders)


def oneshot_commands():
    """Every scheduled command: the timers' services, then the crontab lines."""
    commands = [pytest.param(unit(t.with_suffix('.service'))['Service']['ExecStart'], False,
                             id=f'systemd-{t.stem}') for t in sorted(SYSTEMD.glob('*.timer'))]
    commands += [pytest.param(c, True, id='cron-' + re.sub(r'\W+', '-', c.split('quiet.conf')[1].split('>>')[0]))
                 for _, _, c in cron_jobs()]
    return commands


@pytest.mark.parametrize('command, shell', oneshot_commands())
def test_scheduled_jobs_run(command, shell, install):
    root = install['root']
    if shell:
        result = subprocess.run(['/bin/sh', '-c', command.replace(PREFIX, str(root))], capture_output=True,
                                text=True, cwd='/')
        log = re.search(r'>> (\S+)', command).group(1)
        output = (root / log).read_text()
    else:
        result = subprocess.run(systemd_argv(command, root), capture_output=True, text=True, cwd=root)
        output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert 'Traceback' not in output
