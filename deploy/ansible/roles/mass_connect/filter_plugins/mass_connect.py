"""Filters for the mass_connect role: the layout's needs, the same
arithmetic as startup's pre-flight (src/launcher/preflight/needs.rs;
docs/OPERATIONS.md "Before it starts: limits"), so the unit's limits fit
what startup will check; startup's durations; and a folder's parents.

    {{ config | mass_connect_needs(host_ip, client_hosts) }}
    {{ "1h30m" | mass_connect_seconds }}
    {{ config.server_ip_list | mass_connect_list }}
    {{ "/opt/mass_connect/bin" | mass_connect_parents }}

Run this file to check the figures against the ones needs.rs's own tests
assert: python3 deploy/ansible/roles/mass_connect/filter_plugins/mass_connect.py
"""

import re

# needs.rs: descriptors beyond links and pipes; a server's threads beyond its
# links (acceptor, store, stdin watch) plus the ops connections it may serve
# at once; startup's threads beyond one proxy per child; servers startup
# asks at once at the end.
SPARE_FILES = 16
SERVER_THREADS = 3
OPS_LINKS = 4
STARTUP_THREADS = 2
ASK_AT_ONCE = 32

# The config's defaults for the keys the layout depends on (docs/CONFIG.md).
DEFAULTS = {
    "server_ip_list": "127.0.0.1",
    "server_port_list": "18677;18678;18679",
    "client_num_per_host": 100,
}


def _list(value):
    """A config list: a ;-separated string or a JSON array."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(";") if v.strip()]


def suggest(need):
    """needs.rs's `suggest`: a quarter to spare, up to the next power of two."""
    v = need + need // 4
    return 1 if v <= 1 else 1 << (v - 1).bit_length()


def needs(config, host_ip=None, client_hosts=0):
    """What one host needs to run its part of `config`.

    host_ip: this host's address in server_ip_list (a clients-only host's
    address is not there and runs no server). client_hosts: how many hosts
    run clients; startup counts the hosts of server_ip_list (it cannot see
    clients-only hosts), the playbook knows the inventory and passes it, so
    the figure here is never below startup's.
    """
    ips = _list(config.get("server_ip_list", DEFAULTS["server_ip_list"]))
    ports = _list(config.get("server_port_list", DEFAULTS["server_port_list"]))
    n = int(config.get("client_num_per_host", DEFAULTS["client_num_per_host"]))
    s = len(ips) * len(ports)
    p = len(ports) if host_ip is not None and str(host_ip) in ips else 0
    h = max(len(ips), int(client_hosts or 0))
    links = h * n
    children = n + p
    asks = min(s, ASK_AT_ONCE)
    client = {"files": s + SPARE_FILES, "threads": s + 1}
    server = {
        "files": 2 * links + SPARE_FILES,
        "threads": links + SERVER_THREADS + OPS_LINKS,
    }
    startup = {
        "files": 2 * children + asks + SPARE_FILES,
        "threads": children + STARTUP_THREADS + asks,
    }
    per_process_files = max(
        [startup["files"]]
        + ([server["files"]] if p else [])
        + ([client["files"]] if n else [])
    )
    threads = startup["threads"] + p * server["threads"] + n * client["threads"]
    return {
        "clients": n,
        "servers": s,
        "local_servers": p,
        "client_hosts": h,
        "client": client,
        "server": server,
        "startup": startup,
        "processes": 1 + children,
        "files": startup["files"] + p * server["files"] + n * client["files"],
        "threads": threads,
        "max_process_files": per_process_files,
        "ports_per_address": n,
        "connections": n * s,
        "suggest_files": suggest(per_process_files),
        "suggest_threads": suggest(threads),
    }


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(text):
    """startup's durations in seconds: 30s, 10m, 500ms, and parts that add
    up (1h30m). A bare number is refused, as startup refuses it: 10 could
    mean seconds or milliseconds."""
    text = str(text).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError("not a duration: %r (give a unit: 30s, 10m, 1h30m)" % (text,))
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parents(path):
    """A folder and its parents up to, not including, the root:
    /opt/mass_connect/bin gives [/opt/mass_connect/bin, /opt/mass_connect,
    /opt], deepest first. Deploy notes which of them it had to make, and
    teardown removes those, deepest first, when empty."""
    out = []
    path = "/" + str(path).strip("/")
    while path not in ("/", ""):
        out.append(path)
        path = path.rsplit("/", 1)[0] or "/"
    return out


class FilterModule(object):
    def filters(self):
        return {
            "mass_connect_needs": needs,
            "mass_connect_seconds": seconds,
            "mass_connect_list": _list,
            "mass_connect_parents": parents,
        }


if __name__ == "__main__":
    # The figures needs.rs's tests assert, for the same layouts: one host,
    # 100 clients x 3 servers (the seed), and 1 x 3.
    def per_process(x):
        return [(x[k]["files"], x[k]["threads"]) for k in ("client", "server", "startup")]

    seed = needs({"client_num_per_host": 100}, "127.0.0.1")
    assert per_process(seed) == [(19, 4), (216, 107), (225, 108)], per_process(seed)
    assert (seed["processes"], seed["files"], seed["threads"]) == (104, 2773, 829), seed
    one = needs({"client_num_per_host": 1}, "127.0.0.1")
    assert per_process(one) == [(19, 4), (18, 8), (27, 9)], per_process(one)
    assert (one["processes"], one["files"], one["threads"]) == (5, 100, 37), one
    # docs/DEPLOY.md's ten-host example, on a server host and a clients-only one.
    ten = {
        "server_ip_list": "10.0.0.1;10.0.0.2;10.0.0.3;10.0.0.4",
        "server_port_list": ";".join(str(p) for p in range(18677, 18687)),
        "client_num_per_host": 100,
    }
    big = needs(ten, "10.0.0.1", 10)
    assert (big["max_process_files"], big["threads"]) == (2016, 14314), big
    assert (big["suggest_files"], big["suggest_threads"]) == (4096, 32768), big
    small = needs(ten, "10.0.0.9", 10)
    assert (small["local_servers"], small["threads"]) == (0, 4234), small
    assert suggest(829) == 2048 and suggest(14314) == 32768
    assert seconds("10m") == 600 and seconds("30s") == 30 and seconds("3h") == 10800
    assert seconds("1h30m") == 5400 and seconds("500ms") == 0.5
    for bad in ("10", "", "10x", "1h 30"):
        try:
            seconds(bad)
        except ValueError:
            continue
        raise AssertionError("seconds(%r) should have failed" % bad)
    assert parents("/opt/mass_connect/bin") == ["/opt/mass_connect/bin", "/opt/mass_connect", "/opt"]
    assert parents("/etc/mass_connect/") == ["/etc/mass_connect", "/etc"] and parents("/") == []
    print("mass_connect filters: figures agree with needs.rs")
