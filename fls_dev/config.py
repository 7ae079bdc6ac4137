"""Write a working config from ``app/rattail.conf.example`` with local values filled in.

Used by ``make demo``, the tests and the benches so that they run on the very
settings users copy, not on a second hand-kept config.  Comments and order are
kept; only the given ``(section, key)`` values change (or are added).
"""

import argparse
import re
import sys

_SECTION = re.compile(r'^\[([^\]]+)\]\s*$')
_KEY = re.compile(r'^#?\s*([A-Za-z0-9_.]+)\s*=')


def render(text, overrides):
    """``text`` with each ``{(section, key): value}`` set, uncommenting or appending as needed."""
    pending = {}
    for (section, key), value in overrides.items():
        pending.setdefault(section, {})[key] = value
    out, section = [], None

    def flush(sec):
        for key, value in pending.pop(sec, {}).items():
            out.append(f"{key} = {value}")

    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            flush(section)
            section = match.group(1)
            out.append(line)
            continue
        match = _KEY.match(line)
        if match and section in pending and match.group(1) in pending[section]:
            out.append(f"{match.group(1)} = {pending[section].pop(match.group(1))}")
            continue
        out.append(line)
    flush(section)
    for sec in list(pending):
        out.append(f"\n[{sec}]")
        flush(sec)
    return '\n'.join(out) + '\n'


def off_machine(path):
    """``[(section, key, value)]`` of the settings in the config file ``path`` whose URL names a
    host other than this machine (loopback addresses and ``localhost`` are this machine)."""
    import configparser
    import ipaddress
    from urllib.parse import urlsplit

    parser = configparser.RawConfigParser()
    parser.read(path, encoding='utf-8')
    found = []
    for section in parser.sections():
        for key, value in parser.items(section):
            if '://' not in value:
                continue
            host = urlsplit(value.strip()).hostname
            if not host or host == 'localhost':
                continue
            try:
                if ipaddress.ip_address(host).is_loopback:
                    continue
            except ValueError:
                pass
            found.append((section, key, value))
    return found


def write_config(example_path, out_path, overrides):
    with open(example_path, encoding='utf-8') as f:
        text = render(f.read(), overrides)
    with open(out_path, 'w', encoding='utf-8') as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('example')
    parser.add_argument('output')
    parser.add_argument('--set', action='append', default=[], metavar='SECTION:KEY=VALUE')
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        target, sep, value = item.partition('=')
        section, colon, key = target.partition(':')
        if not sep or not colon:
            parser.error(f"--set {item!r}: expected SECTION:KEY=VALUE")
        overrides[(section, key)] = value
    write_config(args.example, args.output, overrides)


if __name__ == '__main__':
    sys.exit(main())
