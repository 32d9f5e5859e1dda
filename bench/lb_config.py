"""The data plane configuration bench/lb.sh and bench/lb_cost.sh run berth-lb's `lb` example with
(the serde form of `berth_lb::Config`): one load balancer, bench.localhost, whose listeners
forward to one round-robin target group of two local targets.

    python3 bench/lb_config.py TARGET_A TARGET_B HTTP_PORT [HTTPS_PORT CERT_PEM KEY_PEM]

HTTP_PORT 0 picks a free port (a numbered one, as a listener created through the API has).
With HTTPS_PORT, an HTTPS listener too, serving the PEM certificate and key.
"""

import json
import socket
import sys


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seconds(s):
    return {"secs": s, "nanos": 0}


def listener(id, port, protocol, certificates):
    return {
        "id": id, "port": port, "protocol": protocol, "certificates": certificates,
        "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06" if protocol == "Https" else None,
        "rules": [],
        "default_action": {"Forward": {"target_groups": [{"target_group_id": "tg", "weight": 1}], "group_stickiness": None}},
    }


def main(argv):
    if len(argv) not in (3, 6):
        sys.exit(__doc__)
    target_a, target_b, http_port = map(int, argv[:3])
    listeners = [listener("http", http_port or free_port(), "Http", [])]
    if len(argv) == 6:
        https_port, cert_path, key_path = int(argv[3]), argv[4], argv[5]
        with open(cert_path) as cert, open(key_path) as key:
            certificate = {"id": "bench", "certificate_chain_pem": cert.read(), "private_key_pem": key.read()}
        listeners.append(listener("https", https_port, "Https", [certificate]))
    print(json.dumps({
        "load_balancers": [{
            "id": "bench", "dns_name": "bench.localhost", "idle_timeout": seconds(60), "http2_enabled": True,
            "listeners": listeners,
        }],
        "target_groups": [{
            "id": "tg", "protocol": "Http",
            "targets": [{"address": f"127.0.0.1:{p}", "admin_state": "Active"} for p in (target_a, target_b)],
            "health_check": {
                "enabled": True, "protocol": "Http", "path": "/", "port": "TrafficPort",
                "interval": seconds(5), "timeout": seconds(2), "healthy_threshold": 2, "unhealthy_threshold": 2,
                "matcher": "200",
            },
            "algorithm": "RoundRobin", "stickiness": None, "slow_start": None,
            "deregistration_delay": seconds(300),
        }],
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
